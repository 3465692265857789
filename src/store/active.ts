// Every replica's in-memory copy of the active calibration of every model version: the hot path
// reads it and never the store. Versions only grow (a rollback appends a copy), so a record
// replaces the one held only when its version is higher; a late or repeated notification can never
// move a replica backwards.
import { StoreFollower } from './follower.js'
import type { CalibrationRecord, Store } from './types.js'

export function identityCalibration(model: string, modelVersion: number): CalibrationRecord {
  return {
    model,
    model_version: modelVersion,
    version: 0,
    gamma: 0,
    temperature: 1,
    method: 'none',
    objective: null,
    source_version: null,
    created_at: null,
    created_by: null,
    note: null,
    n_samples: null,
    digest: null,
    metrics: null,
    alg_samples: null,
    conformal: null,
    reference: null,
  }
}

const key = (model: string, modelVersion: number) => `${model}\u0000${modelVersion}`

export class ActiveCalibrations extends StoreFollower {
  private readonly held = new Map<string, CalibrationRecord>()

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly onChange: (record: CalibrationRecord) => void = () => {},
  ) {
    super()
  }

  get(model: string, modelVersion: number): CalibrationRecord {
    return this.held.get(key(model, modelVersion)) ?? identityCalibration(model, modelVersion)
  }

  /** Holds `record` if it is newer than what is held; says whether it was. */
  offer(record: CalibrationRecord): boolean {
    const k = key(record.model, record.model_version)
    const current = this.held.get(k)
    if (current && current.version >= record.version) return false
    this.held.set(k, record)
    this.onChange(record)
    return true
  }

  /** Reloads every active version from the store: at start, on reconnect and periodically. */
  async reconcile(): Promise<void> {
    for (const record of await this.store.activeAll()) this.offer(record)
  }

  protected reconcileFailed(err: unknown): void {
    this.onError(err)
  }

  protected follow(): () => void {
    return this.store.subscribe(
      (change) => {
        if (change.version <= this.get(change.model, change.model_version).version) return
        this.store
          .active(change.model, change.model_version)
          .then((record) => record && this.offer(record))
          .catch(this.onError)
      },
      () => void this.reconcile().catch(this.onError),
    )
  }
}
