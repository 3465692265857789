// The embedded store: one SQLite file through better-sqlite3. WAL with synchronous=FULL so an
// acknowledged write survives a crash; BEGIN IMMEDIATE so two processes sharing the file can't
// both take the same next version.
import { EventEmitter } from 'node:events'
import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { CalserveError } from '../errors.js'
import { RECORD_COLUMNS as COLUMNS, migrations } from './migrations.js'
import {
  DELETE_EXPIRED_JOBS,
  FAIL_ORPHANED_JOBS,
  jobValues,
  LAST_CURVE,
  nextRow,
  ORPHANED_JOB_ERROR,
  rowToCurve,
  rowToDirective,
  rowToJob,
  rowToRecord,
  UPSERT_JOB,
  type CalibrationRow,
  type CurveRow,
  type DirectiveRow,
  type JobRow,
} from './rows.js'
import type {
  ModelAction,
  ModelDirective,
  CalibrationChange,
  CalibrationRecord,
  HistoryPage,
  JobRecord,
  NewCalibration,
  Store,
  StoreState,
  StoredCurve,
} from './types.js'

const MIGRATIONS = migrations('sqlite')

/** Which file a path names now: a deleted or replaced file has another identity (or none). */
interface FileIdentity {
  dev: number
  ino: number
}

function identity(path: string): FileIdentity | null {
  try {
    const st = statSync(path)
    return { dev: st.dev, ino: st.ino }
  } catch {
    return null
  }
}

const sameFile = (a: FileIdentity | null, b: FileIdentity | null) => a !== null && b !== null && a.dev === b.dev && a.ino === b.ino

const unavailable = (why: string) => new CalserveError('STORE_UNAVAILABLE', `the calibration store (SQLite) refuses writes: ${why}`, { store: 'sqlite' })

export function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/, '')
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  private db: Database.Database | undefined
  private readonly changes = new EventEmitter()
  /**
   * The database file and its write-ahead log as opened. A connection keeps writing to files that
   * were deleted or replaced under it, and the next start reads the path, not those files: a
   * write is acknowledged only while the path still names them.
   */
  private files: { db: FileIdentity | null; wal: FileIdentity | null } = { db: null, wal: null }
  /** Why the last write failed; cleared by the next write that succeeds. */
  private lastError: string | null = null

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true })
    const db = new Database(this.path)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 5000')
    db.transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)')
      const applied = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }
      for (let i = applied.v; i < MIGRATIONS.length; i++) {
        db.exec(MIGRATIONS[i]!)
        db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(i + 1, new Date().toISOString())
      }
    }).immediate()
    this.db = db
    if (this.path !== ':memory:') this.files = { db: identity(this.path), wal: identity(`${this.path}-wal`) }
  }

  state(): StoreState {
    if (!this.db) return { state: 'closed' }
    const moved = this.moved()
    if (moved) return { state: 'unavailable', error: moved }
    return this.lastError ? { state: 'unavailable', error: this.lastError } : { state: 'open' }
  }

  /** Why the files open are no longer the ones at the path, or null while they are. */
  private moved(): string | null {
    if (this.path === ':memory:') return null
    if (!sameFile(this.files.db, identity(this.path))) return `${this.path} was deleted or replaced since it was opened; restart calserve`
    const wal = identity(`${this.path}-wal`)
    // The log appears with the first write when the file had none at start.
    if (this.files.wal === null && wal !== null) this.files.wal = wal
    else if (this.files.wal !== null && !sameFile(this.files.wal, wal)) return `${this.path}-wal was deleted or replaced since it was opened; restart calserve`
    return null
  }

  /**
   * Every write: refused while the files were moved, and any failure of SQLite itself (read-only
   * file, full disk, I/O error, lock timeout) is STORE_UNAVAILABLE, never a 500. Checked again
   * after the commit: a write that landed in a file the next start won't read is not acknowledged.
   */
  private write<T>(work: (db: Database.Database) => T): T {
    const db = this.conn
    const before = this.moved()
    if (before) throw unavailable(before)
    let result: T
    try {
      result = work(db)
    } catch (err) {
      if (err instanceof CalserveError) throw err
      this.lastError = (err as Error).message
      throw unavailable(this.lastError)
    }
    const after = this.moved()
    if (after) throw unavailable(after)
    this.lastError = null
    return result
  }

  async close(): Promise<void> {
    this.db?.close()
    this.db = undefined
    this.changes.removeAllListeners()
  }

  private get conn(): Database.Database {
    if (!this.db) throw new CalserveError('STORE_UNAVAILABLE', 'the store is not open')
    return this.db
  }

  async active(model: string, modelVersion: number): Promise<CalibrationRecord | null> {
    const row = this.conn
      .prepare(`SELECT ${COLUMNS} FROM calibrations WHERE model = ? AND model_version = ? ORDER BY version DESC LIMIT 1`)
      .get(model, modelVersion) as CalibrationRow | undefined
    return row ? rowToRecord(row) : null
  }

  async activeAll(): Promise<CalibrationRecord[]> {
    const rows = this.conn
      .prepare(
        `SELECT ${COLUMNS} FROM calibrations c WHERE version =
           (SELECT MAX(version) FROM calibrations m WHERE m.model = c.model AND m.model_version = c.model_version)`,
      )
      .all() as CalibrationRow[]
    return rows.map(rowToRecord)
  }

  async history(model: string, modelVersion: number, page?: HistoryPage): Promise<CalibrationRecord[]> {
    // LIMIT -1 is SQLite's "no limit"; the primary key (model, model_version, version) serves both bounds.
    const rows = this.conn
      .prepare(`SELECT ${COLUMNS} FROM calibrations WHERE model = ? AND model_version = ? AND version < ? ORDER BY version DESC LIMIT ?`)
      .all(model, modelVersion, page?.before ?? Number.MAX_SAFE_INTEGER, page?.limit ?? -1) as CalibrationRow[]
    return rows.map(rowToRecord)
  }

  async get(model: string, modelVersion: number, version: number): Promise<CalibrationRecord | null> {
    const row = this.conn
      .prepare(`SELECT ${COLUMNS} FROM calibrations WHERE model = ? AND model_version = ? AND version = ?`)
      .get(model, modelVersion, version) as CalibrationRow | undefined
    return row ? rowToRecord(row) : null
  }

  async lastCurve(model: string, modelVersion: number): Promise<StoredCurve | null> {
    const row = this.conn.prepare(LAST_CURVE).get(model, modelVersion) as CurveRow | undefined
    return row ? rowToCurve(row) : null
  }

  async append(c: NewCalibration, expectedVersion?: number): Promise<CalibrationRecord> {
    const row = this.write((db) =>
      db
        .transaction((): CalibrationRow => {
          const { v: active } = db
            .prepare('SELECT COALESCE(MAX(version), 0) AS v FROM calibrations WHERE model = ? AND model_version = ?')
            .get(c.model, c.model_version) as { v: number }
          const next = nextRow(c, active, expectedVersion)
          db.prepare(
            `INSERT INTO calibrations (${COLUMNS}, curve) VALUES
             (@model, @model_version, @version, @gamma, @temperature, @method, @objective, @source_version,
              @created_at, @created_by, @note, @n_samples, @digest, @metrics, @alg_samples, @conformal, @reference, @curve)`,
          ).run({ ...next, curve: c.curve ? JSON.stringify(c.curve) : null })
          return next
        })
        .immediate(),
    )
    const record = rowToRecord(row)
    this.changes.emit('change', { model: record.model, model_version: record.model_version, version: record.version })
    return record
  }

  async putJob(job: JobRecord): Promise<void> {
    this.write((db) => db.prepare(UPSERT_JOB).run(...jobValues(job)))
  }

  async sweepJobs(staleBefore: string, finishedBefore: string): Promise<{ orphaned: number; expired: number }> {
    return this.write((db) =>
      db.transaction(() => ({
        orphaned: db.prepare(FAIL_ORPHANED_JOBS).run(ORPHANED_JOB_ERROR, new Date().toISOString(), staleBefore).changes,
        expired: db.prepare(DELETE_EXPIRED_JOBS).run(finishedBefore).changes,
      }))(),
    )
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const row = this.conn.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined
    return row ? rowToJob(row) : null
  }

  async putModelDirective(model: string, action: ModelAction, createdBy: string | null = null): Promise<ModelDirective> {
    const directive = this.write((db) =>
      db
        .transaction((): ModelDirective => {
          const { g } = db.prepare('SELECT COALESCE(MAX(generation), 0) AS g FROM model_directives WHERE model = ?').get(model) as { g: number }
          const d: ModelDirective = { model, generation: g + 1, action, created_at: new Date().toISOString(), created_by: createdBy }
          db.prepare(
            'INSERT INTO model_directives (model, generation, action, created_at, created_by) VALUES (@model, @generation, @action, @created_at, @created_by)',
          ).run(d)
          return d
        })
        .immediate(),
    )
    this.changes.emit('directive', directive)
    return directive
  }

  async modelDirectives(): Promise<ModelDirective[]> {
    const rows = this.conn
      .prepare(
        `SELECT model, generation, action, created_at, created_by FROM model_directives d
          WHERE generation = (SELECT MAX(generation) FROM model_directives m WHERE m.model = d.model)`,
      )
      .all() as DirectiveRow[]
    return rows.map(rowToDirective)
  }

  subscribeModels(listener: (directive: ModelDirective) => void): () => void {
    this.changes.on('directive', listener)
    return () => this.changes.off('directive', listener)
  }

  subscribe(listener: (change: CalibrationChange) => void): () => void {
    this.changes.on('change', listener)
    return () => this.changes.off('change', listener)
  }
}
