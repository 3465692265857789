// The store interface: append-only calibration versions per (model, model version) and fit jobs.
// Every implementation makes each write one transaction and tells subscribers after it commits.
import type { JobState } from '../api/fit.js'
import type { CalibrationMethod, CalibrationRecord, CurveMark } from '../api/v1.js'
import type { AlgSamples, ConformalParams, CurvePoint, Metrics } from '../calibration/index.js'

// The wire contracts (src/api) define the records; the store keeps them as they are sent.
export type { CalibrationMethod, CalibrationRecord, CurveMark, JobState }

export interface NewCalibration {
  model: string
  model_version: number
  gamma: number
  temperature: number
  method: Exclude<CalibrationMethod, 'none'>
  objective?: string | null
  source_version?: number | null
  created_by?: string | null
  note?: string | null
  n_samples?: number | null
  digest?: string | null
  metrics?: Metrics | null
  alg_samples?: AlgSamples | null
  /** q̂ null means +∞, as on the wire. */
  conformal?: ConformalParams | null
  reference?: CalibrationRecord['reference']
  /** The seen–absent curve of a fit, kept for the curve picture and the dashboard. */
  curve?: { points: CurvePoint[]; marks: CurveMark[] } | null
}

export interface StoredCurve {
  version: number
  ausuc: number | null
  points: CurvePoint[]
  marks: CurveMark[]
}

export interface JobRecord {
  id: string
  model: string
  state: JobState
  progress: { done: number; total: number }
  result: unknown
  error: { code: string; message: string; details?: unknown } | null
  created_at: string
  updated_at: string
}

export interface CalibrationChange {
  model: string
  model_version: number
  version: number
}

export type ModelAction = 'load' | 'unload'

/** An operator's load or unload of a model; generations grow per model, so replicas apply each once. */
export interface ModelDirective {
  model: string
  generation: number
  action: ModelAction
  created_at: string
  created_by: string | null
}

/**
 * One page of a history, newest first: at most `limit` versions, all older than `before` when it is
 * given (a cursor by version, so a page stays put while new versions are appended).
 */
export interface HistoryPage {
  limit: number
  before?: number
}

export type StoreState = { state: 'open' } | { state: 'closed' } | { state: 'unavailable'; error: string | null }

export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  /** Opens the connection and creates or migrates the schema. */
  init(): Promise<void>
  close(): Promise<void>
  /** Whether writes can be expected to succeed now; reported by /health/ready. */
  state(): StoreState
  active(model: string, modelVersion: number): Promise<CalibrationRecord | null>
  /** The active record of every (model, model version): what a replica reloads to reconcile. */
  activeAll(): Promise<CalibrationRecord[]>
  /** Newest first; every version without `page`, else one page of them (one LIMIT query). */
  history(model: string, modelVersion: number, page?: HistoryPage): Promise<CalibrationRecord[]>
  get(model: string, modelVersion: number, version: number): Promise<CalibrationRecord | null>
  /** The curve of the newest fit (sweep or alg) of a model version, if any. */
  lastCurve(model: string, modelVersion: number): Promise<StoredCurve | null>
  /**
   * Appends the next version and makes it active, in one transaction. With `expectedVersion`, fails
   * with VERSION_CONFLICT unless the active version is exactly that.
   */
  append(c: NewCalibration, expectedVersion?: number): Promise<CalibrationRecord>
  putJob(job: JobRecord): Promise<void>
  /**
   * Fails every queued or running job whose record was last written before `staleBefore` (its
   * replica stopped heartbeating it) and deletes finished jobs last written before `finishedBefore`.
   */
  sweepJobs(staleBefore: string, finishedBefore: string): Promise<{ orphaned: number; expired: number }>
  getJob(id: string): Promise<JobRecord | null>
  /**
   * `listener` hears of each committed append, in this process or (where the store can tell) in
   * others; `onResync` is called when changes may have been missed (after a reconnect).
   */
  subscribe(listener: (change: CalibrationChange) => void, onResync?: () => void): () => void
  /** Records a load or unload of a model as its next generation, in one transaction, and announces it. */
  putModelDirective(model: string, action: ModelAction, createdBy?: string | null): Promise<ModelDirective>
  /** The newest directive of every model. */
  modelDirectives(): Promise<ModelDirective[]>
  subscribeModels(listener: (directive: ModelDirective) => void): () => void
}
