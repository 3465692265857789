// The embedded store: one SQLite file through better-sqlite3. WAL with synchronous=FULL so an
// acknowledged write survives a crash; BEGIN IMMEDIATE so two processes sharing the file can't
// both take the same next version.
import { EventEmitter } from 'node:events'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { CalserveError } from '../errors.js'
import { CALIBRATION_COLUMNS as COLUMNS, migrations } from './migrations.js'
import { nextRow, rowToDirective, rowToJob, rowToRecord, type CalibrationRow, type DirectiveRow, type JobRow } from './rows.js'
import type { ModelAction, ModelDirective, CalibrationChange, CalibrationRecord, HistoryPage, JobRecord, NewCalibration, Store, StoreState, StoredCurve } from './types.js'

const MIGRATIONS = migrations('sqlite')


export function sqlitePath(url: string): string {
  return url.replace(/^sqlite:(\/\/)?/, '')
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  private db: Database.Database | undefined
  private readonly changes = new EventEmitter()

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
  }

  state(): StoreState {
    return this.db ? { state: 'open' } : { state: 'closed' }
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
      .prepare(
        `SELECT ${COLUMNS} FROM calibrations WHERE model = ? AND model_version = ? AND version < ? ORDER BY version DESC LIMIT ?`,
      )
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
    const row = this.conn
      .prepare(
        `SELECT version, metrics, curve FROM calibrations
          WHERE model = ? AND model_version = ? AND curve IS NOT NULL ORDER BY version DESC LIMIT 1`,
      )
      .get(model, modelVersion) as { version: number; metrics: string | null; curve: string } | undefined
    if (!row) return null
    const curve = JSON.parse(row.curve) as Pick<StoredCurve, 'points' | 'marks'>
    const metrics = row.metrics ? (JSON.parse(row.metrics) as { ausuc?: number | null }) : null
    return { version: row.version, ausuc: metrics?.ausuc ?? null, ...curve }
  }

  async append(c: NewCalibration, expectedVersion?: number): Promise<CalibrationRecord> {
    const db = this.conn
    const row = db
      .transaction((): CalibrationRow => {
        const { v: active } = db
          .prepare('SELECT COALESCE(MAX(version), 0) AS v FROM calibrations WHERE model = ? AND model_version = ?')
          .get(c.model, c.model_version) as { v: number }
        const next = nextRow(c, active, expectedVersion)
        db.prepare(
          `INSERT INTO calibrations (${COLUMNS}, curve) VALUES
             (@model, @model_version, @version, @gamma, @temperature, @method, @objective, @source_version,
              @created_at, @created_by, @note, @n_samples, @digest, @metrics, @curve)`,
        ).run({ ...next, curve: c.curve ? JSON.stringify(c.curve) : null })
        return next
      })
      .immediate()
    const record = rowToRecord(row)
    this.changes.emit('change', { model: record.model, model_version: record.model_version, version: record.version })
    return record
  }

  async putJob(job: JobRecord): Promise<void> {
    this.conn
      .prepare(
        `INSERT INTO jobs (id, model, state, done, total, result, error, created_at, updated_at)
         VALUES (@id, @model, @state, @done, @total, @result, @error, @created_at, @updated_at)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, done = excluded.done, total = excluded.total,
           result = excluded.result, error = excluded.error, updated_at = excluded.updated_at`,
      )
      .run({
        id: job.id,
        model: job.model,
        state: job.state,
        done: job.progress.done,
        total: job.progress.total,
        result: job.result === null ? null : JSON.stringify(job.result),
        error: job.error === null ? null : JSON.stringify(job.error),
        created_at: job.created_at,
        updated_at: job.updated_at,
      })
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const row = this.conn.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined
    return row ? rowToJob(row) : null
  }

  async putModelDirective(model: string, action: ModelAction, createdBy: string | null = null): Promise<ModelDirective> {
    const db = this.conn
    const directive = db
      .transaction((): ModelDirective => {
        const { g } = db.prepare('SELECT COALESCE(MAX(generation), 0) AS g FROM model_directives WHERE model = ?').get(model) as { g: number }
        const d: ModelDirective = { model, generation: g + 1, action, created_at: new Date().toISOString(), created_by: createdBy }
        db.prepare(
          'INSERT INTO model_directives (model, generation, action, created_at, created_by) VALUES (@model, @generation, @action, @created_at, @created_by)',
        ).run(d)
        return d
      })
      .immediate()
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
