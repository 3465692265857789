// The replicated store: PostgreSQL through pg. Writes are one transaction each; a write NOTIFYs
// inside its transaction, so the notification is delivered exactly when the write commits. Each
// replica LISTENs on a dedicated connection that reconnects on its own; after a reconnect the
// subscribers are told to resync, since notifications sent while it was away are lost. A heartbeat
// on that connection tells a database gone silent (a network partition) from an idle one, and while
// the connection is down every store call fails at once with STORE_UNAVAILABLE.
// A `schema` query parameter in the URL (postgres://…/db?schema=name) keeps one deployment's
// tables apart from another's in the same database.
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { CalserveError } from '../errors.js'
import { RECORD_COLUMNS as COLUMNS, migrations } from './migrations.js'
import {
  DELETE_EXPIRED_JOBS,
  FAIL_ORPHANED_JOBS,
  jobValues,
  LAST_CURVE,
  nextRow,
  numbered,
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

/**
 * NOTIFY channels are per database, not per schema: each schema (deployment) has its own, so
 * replicas of one deployment don't hear another's writes. A channel name is at most 63 bytes,
 * hence the shorter limit on schema names.
 */
const channelOf = (schema: string) => `calserve_${schema}`
/** Queries fail fast while the database is away: writes answer 503 instead of hanging. */
const CONNECT_TIMEOUT_MS = 2000
const STATEMENT_TIMEOUT_MS = 5000
/** Client-side bound on every query, for a server that stopped answering without closing. */
const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 1000
/** The LISTEN connection is otherwise silent: a query on it this often proves it alive. */
const HEARTBEAT_MS = 2000
const HEARTBEAT_TIMEOUT_MS = 2000
const RECONNECT_MAX_MS = 500

const MIGRATIONS = migrations('postgres')

// Connection-level failures: the database is away, not the request wrong.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])

const unavailable = () => new CalserveError('STORE_UNAVAILABLE', 'the calibration store (PostgreSQL) is unavailable; retry shortly', { store: 'postgres' })
const isUnavailable = (err: unknown) => err instanceof CalserveError && err.code === 'CALSERVE_STORE_UNAVAILABLE'

export interface PostgresTarget {
  config: pg.ClientConfig
  schema: string
}

export function parsePostgresUrl(url: string): PostgresTarget {
  const u = new URL(url)
  const schema = u.searchParams.get('schema') ?? 'public'
  if (!/^[a-z_][a-z0-9_]{0,53}$/.test(schema))
    throw new Error(`invalid schema name '${schema}' in CALSERVE_STORE_URL: lower-case letters, digits and _, at most 54 characters`)
  u.searchParams.delete('schema')
  return {
    schema,
    config: {
      connectionString: u.toString(),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      options: `-c search_path=${schema}`,
    },
  }
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  private readonly pool: pg.Pool
  private readonly events = new EventEmitter()
  private listener: pg.Client | undefined
  private listening = false
  private reconnectTimer: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  /** Reconnects since the LISTEN connection last worked: the backoff grows with it. */
  private reconnects = 0
  private closed = false
  private lastError: string | null = null
  /**
   * Why the last write failed while the connection was up (the database read-only, a disk full, a
   * permission taken away); readiness reports it until a write succeeds again.
   */
  private writeError: string | null = null
  private readonly channel: string

  constructor(private readonly target: PostgresTarget) {
    this.channel = channelOf(target.schema)
    this.pool = new pg.Pool({ ...target.config, max: 10, idleTimeoutMillis: 10_000 })
    // An idle client that loses its server emits here; without a handler the process would crash.
    this.pool.on('error', (err) => (this.lastError = err.message))
  }

  async init(): Promise<void> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      // Several replicas may start at once: one migrates, the others wait and then see it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`calserve:${this.target.schema}:migrate`])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.target.schema}`)
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)')
      const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations')
      for (let i = rows[0]!.v; i < MIGRATIONS.length; i++) {
        await client.query(MIGRATIONS[i]!)
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [i + 1, new Date().toISOString()])
      }
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
    await this.listen()
  }

  /** Opens the LISTEN connection; on loss, retries with a short backoff until it is back. */
  private async listen(initial = true): Promise<void> {
    if (this.closed) return
    const client = new pg.Client({ ...this.target.config, query_timeout: HEARTBEAT_TIMEOUT_MS })
    let heartbeat: NodeJS.Timeout | undefined
    // Once per connection: its error, its end and a failed heartbeat may each report the loss.
    let lost = false
    const retry = () => {
      if (lost) return
      lost = true
      if (heartbeat) clearInterval(heartbeat)
      if (this.closed || this.reconnectTimer) return
      this.listening = false
      client.removeAllListeners()
      client.on('error', () => {})
      client.end().catch(() => {})
      const delay = Math.min(RECONNECT_MAX_MS, 100 * 2 ** this.reconnects++)
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined
        void this.listen(false)
      }, delay)
      this.reconnectTimer.unref()
    }
    client.on('error', (err) => {
      this.lastError = err.message
      retry()
    })
    client.on('end', retry)
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return
      try {
        const payload = JSON.parse(msg.payload) as CalibrationChange | { directive: ModelDirective }
        if ('directive' in payload) this.events.emit('directive', payload.directive)
        else this.events.emit('change', payload)
      } catch {
        // A payload we did not write: ignore it; the periodic reconcile covers anything missed.
      }
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${this.channel}`)
      if (this.closed) {
        // close() ran while this connection was being opened: nobody will end it but us.
        client.removeAllListeners()
        client.on('error', () => {})
        await client.end().catch(() => {})
        return
      }
    } catch (err) {
      this.lastError = (err as Error).message
      if (initial) {
        // At start-up a store that can't be reached is an error the operator should see at once.
        client.removeAllListeners()
        await client.end().catch(() => {})
        throw err
      }
      retry()
      return
    }
    const wasListening = this.listener !== undefined
    this.listener = client
    this.listening = true
    this.lastError = null
    this.reconnects = 0
    let beating = false
    heartbeat = setInterval(() => {
      if (beating) return
      beating = true
      client.query('SELECT 1').then(
        () => (beating = false),
        (err: Error) => {
          this.lastError = `PostgreSQL did not answer: ${err.message}`
          retry()
        },
      )
    }, HEARTBEAT_MS)
    heartbeat.unref()
    this.heartbeat = heartbeat
    // Anything committed while this connection was away was not notified: resync.
    if (wasListening) this.events.emit('resync')
  }

  state(): StoreState {
    if (this.closed) return { state: 'closed' }
    if (!this.listening) return { state: 'unavailable', error: this.lastError }
    return this.writeError ? { state: 'unavailable', error: this.writeError } : { state: 'open' }
  }

  async close(): Promise<void> {
    // Closing twice is harmless, as with the SQLite store (pg's pool refuses a second end()).
    if (this.closed) return
    this.closed = true
    this.listening = false
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.heartbeat) clearInterval(this.heartbeat)
    const listener = this.listener
    this.listener = undefined
    listener?.removeAllListeners()
    listener?.on('error', () => {})
    await listener?.end().catch(() => {})
    await this.pool.end()
    this.events.removeAllListeners()
  }

  /**
   * While the LISTEN connection is down (the database stopped, refused or went silent) nothing is
   * tried: the caller gets STORE_UNAVAILABLE at once instead of waiting out a timeout.
   */
  private checkAvailable(): void {
    if (this.closed) throw new CalserveError('STORE_UNAVAILABLE', 'the store is closed', { store: 'postgres' })
    if (!this.listening) throw unavailable()
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    this.checkAvailable()
    try {
      return (await this.pool.query<R>(text, values)).rows
    } catch (err) {
      throw this.translate(err)
    }
  }

  private translate(err: unknown): unknown {
    const code = (err as { code?: string }).code
    const message = (err as Error).message ?? ''
    if ((code && UNAVAILABLE_CODES.has(code)) || /timeout|terminat|Connection ended|not queryable/i.test(message)) {
      this.lastError = message
      return unavailable()
    }
    return err
  }

  async active(model: string, modelVersion: number): Promise<CalibrationRecord | null> {
    const rows = await this.query<CalibrationRow>(`SELECT ${COLUMNS} FROM calibrations WHERE model = $1 AND model_version = $2 ORDER BY version DESC LIMIT 1`, [
      model,
      modelVersion,
    ])
    return rows[0] ? rowToRecord(rows[0]) : null
  }

  async activeAll(): Promise<CalibrationRecord[]> {
    const rows = await this.query<CalibrationRow>(
      `SELECT DISTINCT ON (model, model_version) ${COLUMNS} FROM calibrations ORDER BY model, model_version, version DESC`,
    )
    return rows.map(rowToRecord)
  }

  async history(model: string, modelVersion: number, page?: HistoryPage): Promise<CalibrationRecord[]> {
    // LIMIT NULL is PostgreSQL's LIMIT ALL; the primary key (model, model_version, version) serves both bounds.
    const rows = await this.query<CalibrationRow>(
      `SELECT ${COLUMNS} FROM calibrations WHERE model = $1 AND model_version = $2 AND ($3::bigint IS NULL OR version < $3)
        ORDER BY version DESC LIMIT $4`,
      [model, modelVersion, page?.before ?? null, page?.limit ?? null],
    )
    return rows.map(rowToRecord)
  }

  async get(model: string, modelVersion: number, version: number): Promise<CalibrationRecord | null> {
    const rows = await this.query<CalibrationRow>(`SELECT ${COLUMNS} FROM calibrations WHERE model = $1 AND model_version = $2 AND version = $3`, [
      model,
      modelVersion,
      version,
    ])
    return rows[0] ? rowToRecord(rows[0]) : null
  }

  async lastCurve(model: string, modelVersion: number): Promise<StoredCurve | null> {
    const rows = await this.query<CurveRow>(numbered(LAST_CURVE), [model, modelVersion])
    return rows[0] ? rowToCurve(rows[0]) : null
  }

  /**
   * A write's failure as the caller sees it: calserve's own refusals (a version conflict) as they
   * are, and any failure of the database (read-only, out of space, a permission) as
   * STORE_UNAVAILABLE, never a 500: the request was right and may succeed later.
   */
  private writeFailure(err: unknown): unknown {
    if (err instanceof CalserveError) return err
    this.writeError = (err as Error).message ?? String(err)
    return new CalserveError('STORE_UNAVAILABLE', `the calibration store (PostgreSQL) refused the write: ${this.writeError}`, { store: 'postgres' })
  }

  private async write<T>(work: () => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await work()
    } catch (err) {
      throw this.writeFailure(err)
    }
    this.writeError = null
    return result
  }

  /** Runs `work` in one transaction on one pooled connection; COMMIT on success. */
  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.write(() => this.transactionOnce(work))
  }

  private async transactionOnce<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.checkAvailable()
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw this.translate(err)
    }
    let broken = false
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      // A connection that failed, or whose ROLLBACK fails, is broken (or still inside the
      // transaction): destroy it instead of handing it back to the pool.
      const translated = this.translate(err)
      broken =
        isUnavailable(translated) ||
        (await client.query('ROLLBACK').then(
          () => false,
          () => true,
        ))
      throw translated
    } finally {
      client.release(broken)
    }
  }

  async append(c: NewCalibration, expectedVersion?: number): Promise<CalibrationRecord> {
    return this.transaction(async (client) => {
      // Serialises writers of one model version across every replica; the primary key would
      // refuse a duplicate version anyway, but the lock turns the race into a clean 409.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`calserve:${this.target.schema}:${c.model}:${c.model_version}`])
      const { rows } = await client.query<{ v: number }>(
        'SELECT COALESCE(MAX(version), 0)::int AS v FROM calibrations WHERE model = $1 AND model_version = $2',
        [c.model, c.model_version],
      )
      const active = rows[0]!.v
      const row = nextRow(c, active, expectedVersion)
      await client.query(
        `INSERT INTO calibrations (${COLUMNS}, curve) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
        [
          row.model,
          row.model_version,
          row.version,
          row.gamma,
          row.temperature,
          row.method,
          row.objective,
          row.source_version,
          row.created_at,
          row.created_by,
          row.note,
          row.n_samples,
          row.digest,
          row.metrics,
          row.alg_samples,
          row.conformal,
          row.reference,
          c.curve ? JSON.stringify(c.curve) : null,
        ],
      )
      const change: CalibrationChange = { model: row.model, model_version: row.model_version, version: row.version }
      await client.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify(change)])
      return rowToRecord(row)
    })
  }

  async putModelDirective(model: string, action: ModelAction, createdBy: string | null = null): Promise<ModelDirective> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`calserve:${this.target.schema}:directive:${model}`])
      const { rows } = await client.query<{ g: number }>('SELECT COALESCE(MAX(generation), 0)::int AS g FROM model_directives WHERE model = $1', [model])
      const directive: ModelDirective = { model, generation: rows[0]!.g + 1, action, created_at: new Date().toISOString(), created_by: createdBy }
      await client.query('INSERT INTO model_directives (model, generation, action, created_at, created_by) VALUES ($1, $2, $3, $4, $5)', [
        directive.model,
        directive.generation,
        directive.action,
        directive.created_at,
        directive.created_by,
      ])
      await client.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify({ directive })])
      return directive
    })
  }

  async modelDirectives(): Promise<ModelDirective[]> {
    const rows = await this.query<DirectiveRow>(
      'SELECT DISTINCT ON (model) model, generation, action, created_at, created_by FROM model_directives ORDER BY model, generation DESC',
    )
    return rows.map(rowToDirective)
  }

  subscribeModels(listener: (directive: ModelDirective) => void): () => void {
    this.events.on('directive', listener)
    return () => this.events.off('directive', listener)
  }

  async putJob(job: JobRecord): Promise<void> {
    await this.write(() => this.query(numbered(UPSERT_JOB), jobValues(job)))
  }

  async sweepJobs(staleBefore: string, finishedBefore: string): Promise<{ orphaned: number; expired: number }> {
    return this.write(() =>
      this.transaction(async (client) => ({
        orphaned: (await client.query(numbered(FAIL_ORPHANED_JOBS), [ORPHANED_JOB_ERROR, new Date().toISOString(), staleBefore])).rowCount ?? 0,
        expired: (await client.query(numbered(DELETE_EXPIRED_JOBS), [finishedBefore])).rowCount ?? 0,
      })),
    )
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const rows = await this.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id])
    return rows[0] ? rowToJob(rows[0]) : null
  }

  subscribe(listener: (change: CalibrationChange) => void, onResync?: () => void): () => void {
    this.events.on('change', listener)
    if (onResync) this.events.on('resync', onResync)
    return () => {
      this.events.off('change', listener)
      if (onResync) this.events.off('resync', onResync)
    }
  }
}
