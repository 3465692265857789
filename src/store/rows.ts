// Row <-> record conversion shared by the SQL stores: JSON columns are parsed here, once.
import type { AlgSamples, ConformalParams, Metrics } from '../calibration/types.js'
import { versionConflict } from '../errors.js'
import type { CalibrationMethod, CalibrationRecord, JobRecord, JobState, ModelAction, ModelDirective, NewCalibration, StoredCurve } from './types.js'

export interface CalibrationRow {
  model: string
  model_version: number
  version: number
  gamma: number
  temperature: number
  method: string
  objective: string | null
  source_version: number | null
  created_at: string
  created_by: string | null
  note: string | null
  n_samples: number | null
  digest: string | null
  metrics: string | null
  alg_samples: string | null
  conformal: string | null
  reference: string | null
}

/**
 * The row that appending `c` writes when `active` is the newest version: the next version, or a
 * VERSION_CONFLICT when `expectedVersion` is given and is not `active`. Both stores call this inside
 * their write transaction.
 */
export function nextRow(c: NewCalibration, active: number, expectedVersion: number | undefined): CalibrationRow {
  if (expectedVersion !== undefined && expectedVersion !== active) throw versionConflict(expectedVersion, active)
  return {
    model: c.model,
    model_version: c.model_version,
    version: active + 1,
    gamma: c.gamma,
    temperature: c.temperature,
    method: c.method,
    objective: c.objective ?? null,
    source_version: c.source_version ?? null,
    created_at: new Date().toISOString(),
    created_by: c.created_by ?? null,
    note: c.note ?? null,
    n_samples: c.n_samples ?? null,
    digest: c.digest ?? null,
    metrics: c.metrics ? JSON.stringify(c.metrics) : null,
    alg_samples: c.alg_samples ?? null,
    conformal: c.conformal ? JSON.stringify(c.conformal) : null,
    reference: c.reference ? JSON.stringify(c.reference) : null,
  }
}

export function rowToRecord(row: CalibrationRow): CalibrationRecord {
  return {
    model: row.model,
    model_version: Number(row.model_version),
    version: Number(row.version),
    gamma: Number(row.gamma),
    temperature: Number(row.temperature),
    method: row.method as CalibrationMethod,
    objective: row.objective,
    source_version: row.source_version === null ? null : Number(row.source_version),
    created_at: row.created_at,
    created_by: row.created_by,
    note: row.note,
    n_samples: row.n_samples === null ? null : Number(row.n_samples),
    digest: row.digest,
    metrics: row.metrics === null ? null : (JSON.parse(row.metrics) as Metrics),
    alg_samples: row.alg_samples as AlgSamples | null,
    conformal: row.conformal === null ? null : (JSON.parse(row.conformal) as ConformalParams),
    reference: row.reference === null ? null : (JSON.parse(row.reference) as CalibrationRecord['reference']),
  }
}

export interface JobRow {
  id: string
  model: string
  state: string
  done: number
  total: number
  result: string | null
  error: string | null
  created_at: string
  updated_at: string
}

export function rowToJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    model: row.model,
    state: row.state as JobState,
    progress: { done: Number(row.done), total: Number(row.total) },
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as JobRecord['error']),
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}

export interface DirectiveRow {
  model: string
  generation: number
  action: string
  created_at: string
  created_by: string | null
}

export function rowToDirective(row: DirectiveRow): ModelDirective {
  return {
    model: row.model,
    generation: Number(row.generation),
    action: row.action as ModelAction,
    created_at: row.created_at,
    created_by: row.created_by,
  }
}

// SQL both stores run, written once with `?` placeholders; PostgreSQL's numbered ones come from
// `numbered`. The drivers differ (better-sqlite3 is synchronous, pg is not), the statements do not.

/** `?, ?, …` → `$1, $2, …` for pg. */
export function numbered(sql: string): string {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

export const UPSERT_JOB = `INSERT INTO jobs (id, model, state, done, total, result, error, created_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET state = excluded.state, done = excluded.done, total = excluded.total,
    result = excluded.result, error = excluded.error, updated_at = excluded.updated_at`

export function jobValues(job: JobRecord): unknown[] {
  return [
    job.id,
    job.model,
    job.state,
    job.progress.done,
    job.progress.total,
    job.result === null ? null : JSON.stringify(job.result),
    job.error === null ? null : JSON.stringify(job.error),
    job.created_at,
    job.updated_at,
  ]
}

/** A queued or running job not touched since `staleBefore` lost its replica: it is failed (values: error, now, staleBefore). */
export const FAIL_ORPHANED_JOBS = `UPDATE jobs SET state = 'failed', error = ?, updated_at = ?
  WHERE state IN ('queued', 'running') AND updated_at < ?`

/** Finished jobs older than the retention period are deleted (value: finishedBefore). */
export const DELETE_EXPIRED_JOBS = `DELETE FROM jobs WHERE state IN ('succeeded', 'failed') AND updated_at < ?`

export const ORPHANED_JOB_ERROR = JSON.stringify({
  code: 'CALSERVE_INTERNAL',
  message: 'the replica running this job stopped before it finished; submit the fit again',
})

export const LAST_CURVE = `SELECT version, metrics, curve FROM calibrations
  WHERE model = ? AND model_version = ? AND curve IS NOT NULL ORDER BY version DESC LIMIT 1`

export interface CurveRow {
  version: number
  metrics: string | null
  curve: string
}

export function rowToCurve(row: CurveRow): StoredCurve {
  const curve = JSON.parse(row.curve) as Pick<StoredCurve, 'points' | 'marks'>
  const metrics = row.metrics ? (JSON.parse(row.metrics) as { ausuc?: number | null }) : null
  return { version: Number(row.version), ausuc: metrics?.ausuc ?? null, ...curve }
}
