// Issue 18 item 9: every store failure on a write is 503 CALSERVE_STORE_UNAVAILABLE (never a 500),
// readiness reports the store's real state, and a write is acknowledged only once it is durable
// where the next start reads it (SQLite files deleted or replaced under a running server).
import { renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import t from 'tap'
import { CalserveError } from '../../src/errors.js'
import { SqliteStore } from '../../src/store/sqlite.js'
import { PostgresStore, parsePostgresUrl } from '../../src/store/postgres.js'
import { build, rejection, tempDir } from '../helper.js'
import { BASE_URL, freshSchemaUrl, reachable } from '../pg.js'
import { manual } from './suite.js'

const isUnavailable = (err: unknown) => err instanceof CalserveError && err.code === 'CALSERVE_STORE_UNAVAILABLE'

t.test('SQLite: a write SQLite refuses is STORE_UNAVAILABLE and readiness says so until a write succeeds', async (t) => {
  const path = join(tempDir(t), 'calserve.db')
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.init()
  // Another connection makes every write fail the way a read-only or full database does.
  const other = new Database(path)
  t.teardown(() => other.close())
  for (const table of ['calibrations', 'jobs', 'model_directives'])
    other.exec(`CREATE TRIGGER refuse_${table} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END`)
  t.ok(isUnavailable(await rejection(store.append(manual('tiny', 1, 0.5)))), 'append')
  t.ok(isUnavailable(await rejection(store.putModelDirective('tiny', 'unload'))), 'directive')
  const now = new Date().toISOString()
  t.ok(
    isUnavailable(await rejection(store.putJob({ id: 'j', model: 'tiny', state: 'queued', progress: { done: 0, total: 1 }, result: null, error: null, created_at: now, updated_at: now }))),
    'job',
  )
  t.match(store.state(), { state: 'unavailable', error: /readonly/ })
  for (const table of ['calibrations', 'jobs', 'model_directives']) other.exec(`DROP TRIGGER refuse_${table}`)
  t.equal((await store.append(manual('tiny', 1, 0.5))).version, 1)
  t.same(store.state(), { state: 'open' })
})

t.test('SQLite: db, -wal and -shm deleted while open: writes are 503, and nothing acknowledged is lost', async (t) => {
  const path = join(tempDir(t), 'calserve.db')
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.init()
  const acked = [await store.append(manual('tiny', 1, 0.5))]
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
  t.match(store.state(), { state: 'unavailable', error: /deleted or replaced/ })
  for (let i = 0; i < 5; i++) {
    const err = await rejection(store.append(manual('tiny', 1, i)))
    t.ok(isUnavailable(err), `write ${i} refused`)
  }
  await store.close()
  const next = new SqliteStore(path)
  t.teardown(() => next.close())
  await next.init()
  const history = await next.history('tiny', 1)
  // The one write acknowledged before the deletion is gone with the file; none after was acknowledged.
  t.ok(history.length <= acked.length, 'the next start sees no write that was refused')
})

t.test('SQLite: a file replaced under the store (a restore, a bad deploy) refuses writes', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'calserve.db')
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.init()
  await store.append(manual('tiny', 1, 0.5))
  const other = new SqliteStore(join(dir, 'other.db'))
  await other.init()
  await other.close()
  renameSync(join(dir, 'other.db'), path)
  t.ok(isUnavailable(await rejection(store.append(manual('tiny', 1, 1)))))
  t.match(store.state(), { state: 'unavailable' })
})

t.test('HTTP on SQLite: PUT after the files were deleted is 503 STORE_UNAVAILABLE; /health/ready shows it', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'calserve.db')
  const app = await build(t, { CALSERVE_STORE_URL: `sqlite:${path}` })
  const put = () => app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1 } })
  t.equal((await put()).statusCode, 200)
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
  const res = await put()
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, 'CALSERVE_STORE_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '1')
  const ready = await app.inject('/health/ready')
  t.match(ready.json().store, { kind: 'sqlite', state: 'unavailable', error: /deleted or replaced/ })
})

const pgUnreachable = await reachable()
const pgSkip = pgUnreachable === null ? false : `PostgreSQL at ${BASE_URL} not reachable: ${pgUnreachable}`
t.test('PostgreSQL read-only: writes are 503 STORE_UNAVAILABLE, readiness unavailable, then recovers', { skip: pgSkip }, async (t) => {
  const { url, schema } = freshSchemaUrl(t)
  const store = new PostgresStore(parsePostgresUrl(url))
  t.teardown(() => store.close())
  await store.init()
  // What default_transaction_read_only=on answers (SQLSTATE 25006), confined to this test's schema
  // so other tests on the shared database are not made read-only.
  const admin = new pg.Client({ connectionString: BASE_URL })
  await admin.connect()
  t.teardown(() => admin.end())
  await admin.query(`CREATE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' USING ERRCODE = '25006'; END $$`)
  for (const table of ['calibrations', 'jobs', 'model_directives'])
    await admin.query(`CREATE TRIGGER refuse BEFORE INSERT ON ${schema}.${table} FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`)
  t.ok(isUnavailable(await rejection(store.append(manual('tiny', 1, 0.5)))), 'append')
  t.ok(isUnavailable(await rejection(store.putModelDirective('tiny', 'unload'))), 'directive')
  t.match(store.state(), { state: 'unavailable', error: /read-only/ })
  for (const table of ['calibrations', 'jobs', 'model_directives']) await admin.query(`DROP TRIGGER refuse ON ${schema}.${table}`)
  t.equal((await store.append(manual('tiny', 1, 0.5))).version, 1)
  t.same(store.state(), { state: 'open' })
})
