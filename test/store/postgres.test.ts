// The shared store suite on PostgresStore, plus what only the replicated store has: two stores on
// one schema standing in for two replicas (notifications, races, concurrent migrations), the
// in-memory active calibrations following another replica's write, and an outage in between.
//
// Each subtest gets a fresh schema calserve_test_<random> in the database named by
// CALSERVE_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test), dropped on teardown.
import pg from 'pg'
import t, { type Test } from 'tap'
import { CalserveError } from '../../src/errors.js'
import { ActiveCalibrations } from '../../src/store/active.js'
import { createStore } from '../../src/store/index.js'
import { CALIBRATION_COLUMNS, migrations } from '../../src/store/migrations.js'
import { parsePostgresUrl, PostgresStore } from '../../src/store/postgres.js'
import type { CalibrationChange, Store } from '../../src/store/types.js'
import { startTcpProxy } from '../replicas/tcp-proxy.js'
import { BASE_URL, freshSchemaUrl, reachable } from '../pg.js'
import { rejection, until } from '../helper.js'
import { manual, SEED_METRICS, storeSuite } from './suite.js'

// The γ of model tiny, version 2, set by hand.
const manualTiny = (gamma: number, model = 'tiny', model_version = 2) => manual(model, model_version, gamma)

async function openStore(t: Test, url: string): Promise<PostgresStore> {
  const store = createStore(url)
  if (!(store instanceof PostgresStore)) throw new Error('not a PostgresStore')
  t.teardown(() => store.close())
  await store.init()
  return store
}

const unreachable = await reachable()
if (unreachable !== null) {
  t.plan(0, `skipped: PostgreSQL at ${BASE_URL} is not reachable (${unreachable}); start it or set CALSERVE_TEST_PG_URL`)
} else {
  storeSuite(t, async (t) => {
    const { url, schema } = freshSchemaUrl(t)
    const open = async () => {
      const store = new PostgresStore(parsePostgresUrl(url))
      await store.init()
      return store
    }
    return Object.assign(open, {
      async seed(model: string, modelVersion: number, n: number) {
        const client = new pg.Client({ connectionString: BASE_URL })
        await client.connect()
        try {
          await client.query(
            `INSERT INTO ${schema}.calibrations (${CALIBRATION_COLUMNS}) SELECT $2, $3, v, v / 1000.0, 1, 'manual', NULL, NULL,
               '2026-01-01T00:00:00.000Z', 'seed', 'seeded version ' || v, 180, NULL, $4 FROM generate_series(1, $1::int) AS v`,
            [n, model, modelVersion, JSON.stringify(SEED_METRICS)],
          )
        } finally {
          await client.end()
        }
      },
    })
  })

  t.test('postgres URLs', async (t) => {
    const target = parsePostgresUrl('postgres://u:secret@db.example:6543/calserve?schema=calserve_b&sslmode=disable')
    t.equal(target.schema, 'calserve_b')
    t.equal(target.config.connectionString, 'postgres://u:secret@db.example:6543/calserve?sslmode=disable', 'schema is taken out of the URL')
    t.match(target.config.options, /search_path=calserve_b/)
    t.equal(parsePostgresUrl('postgresql://h/db').schema, 'public', 'public by default')
    t.throws(() => parsePostgresUrl('postgres://h/db?schema=x;drop'), /invalid schema/)
    t.throws(() => parsePostgresUrl('postgres://h/db?schema=Upper'), /invalid schema/)
    t.equal(parsePostgresUrl(`postgres://h/db?schema=${'s'.repeat(54)}`).schema.length, 54)
    t.throws(() => parsePostgresUrl(`postgres://h/db?schema=${'s'.repeat(55)}`), /at most 54/, 'its NOTIFY channel must fit in 63 bytes')
    t.ok(createStore('postgres://h/db') instanceof PostgresStore)
    t.ok(createStore('postgresql://h/db') instanceof PostgresStore)
  })

  t.test('a write is told and acknowledged only once it has committed (its COMMIT held open by a lock)', async (t) => {
    // The suite's "committed when told" reads back inside the listener, which a notification sent
    // before COMMIT passes whenever the COMMIT wins the race to the read. Here the race is taken
    // away: a deferred constraint trigger runs inside the write's COMMIT and waits for an advisory
    // lock this test holds, so the write sits between its last statement and its commit for as
    // long as the test likes. While it sits there, nothing may be told and append may not resolve.
    const { url, schema } = freshSchemaUrl(t)
    const store = await openStore(t, url)
    const holder = new pg.Client({ connectionString: BASE_URL })
    await holder.connect()
    t.teardown(() => holder.end())
    const KEY = 7_241_018
    await holder.query(
      `CREATE FUNCTION ${schema}.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(${KEY}); RETURN NULL; END $$`,
    )
    await holder.query(
      `CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON ${schema}.calibrations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${schema}.hold_commit()`,
    )
    const seen: CalibrationChange[] = []
    store.subscribe((change) => seen.push(change))
    // Markers on the store's channel, from the test's own connection: notifications reach a
    // listener in the order they committed, so once a marker is heard, everything committed before
    // it has been heard too.
    const channel = `calserve_${schema}`
    const heard = (version: number) => seen.some((c) => c.model === 'marker' && c.version === version)
    const marker = async (version: number) => {
      // Resent until heard: the first may come before the store's LISTEN is in place.
      t.ok(
        await until(async () => {
          await holder.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify({ model: 'marker', model_version: 1, version })])
          return until(() => heard(version), 200)
        }, 20_000),
        `marker ${version} heard`,
      )
    }
    await marker(1)

    await holder.query('SELECT pg_advisory_lock($1)', [KEY])
    let acknowledged = false
    const write = store.append(manualTiny(1.5)).then((record) => {
      acknowledged = true
      return record
    })
    // The barrier: the write's backend is waiting for the lock, i.e. inside its COMMIT.
    const waiting = async () =>
      (await holder.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, [KEY])).rows[0]!
        .n > 0
    t.ok(await until(waiting, 20_000), 'the write is held inside its COMMIT')
    await marker(2)
    t.same(
      seen.filter((c) => c.model === 'tiny'),
      [],
      'not told of the write before it committed',
    )
    t.notOk(acknowledged, 'append has not resolved before the COMMIT')
    t.equal(await store.active('tiny', 2), null, 'another connection does not see it yet')

    await holder.query('SELECT pg_advisory_unlock($1)', [KEY])
    t.equal((await write).version, 1, 'acknowledged once committed')
    t.ok(await until(() => seen.some((c) => c.model === 'tiny'), 20_000), 'told after the commit')
    t.same(
      seen.filter((c) => c.model === 'tiny'),
      [{ model: 'tiny', model_version: 2, version: 1 }],
    )
    t.equal((await store.active('tiny', 2))?.version, 1)
  })

  t.test('state is open after init, closed after close', async (t) => {
    const { url } = freshSchemaUrl(t)
    const store = await openStore(t, url)
    t.equal(store.kind, 'postgres')
    t.same(store.state(), { state: 'open' })
    await store.close()
    t.same(store.state(), { state: 'closed' })
    await t.rejects(store.active('tiny', 2), { code: 'CALSERVE_STORE_UNAVAILABLE', statusCode: 503 }, 'a closed store refuses reads')
    await t.rejects(store.append(manualTiny(1)), { code: 'CALSERVE_STORE_UNAVAILABLE', statusCode: 503 }, 'and writes')
    await store.close() // twice is harmless
  })

  t.test('init fails at once when the database cannot be reached', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    const port = proxy.port
    await proxy.close()
    const store = createStore(`postgres://postgres@127.0.0.1:${port}/test?schema=calserve_never`)
    const started = Date.now()
    const err = await rejection(store.init())
    t.ok(err, 'init rejects')
    t.ok(Date.now() - started < 3000, `within the connect timeout (${Date.now() - started} ms)`)
    await store.close()
  })

  t.test('a schema at migration 2 migrates: its versions read with no alg_samples, conformal or reference', async (t) => {
    const { url, schema } = freshSchemaUrl(t)
    const admin = new pg.Client({ connectionString: BASE_URL })
    await admin.connect()
    t.teardown(() => admin.end())
    await admin.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`)
    await admin.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)')
    for (const [i, sql] of migrations('postgres').slice(0, 2).entries()) {
      await admin.query(sql)
      await admin.query('INSERT INTO schema_migrations VALUES ($1, $2)', [i + 1, '2026-01-01T00:00:00.000Z'])
    }
    await admin.query(
      `INSERT INTO calibrations (${CALIBRATION_COLUMNS}) VALUES ('tiny', 2, 1, 0.5, 1, 'alg', NULL, NULL, '2026-01-01T00:00:00.000Z', NULL, NULL, 3, NULL, NULL)`,
    )
    const store = await openStore(t, url)
    t.match(await store.get('tiny', 2, 1), { gamma: 0.5, method: 'alg', alg_samples: null, conformal: null, reference: null })
    const next = await store.append({ ...manualTiny(1), conformal: { alpha: 0.1, score: 'aps', by: 'marginal', qhat: 0.75 } })
    t.same(next.conformal, { alpha: 0.1, score: 'aps', by: 'marginal', qhat: 0.75 })
  })

  t.test('several stores calling init at once on a fresh schema all succeed (advisory-locked migration)', async (t) => {
    const { url, schema } = freshSchemaUrl(t)
    const stores = Array.from({ length: 6 }, () => new PostgresStore(parsePostgresUrl(url)))
    for (const s of stores) t.teardown(() => s.close())
    const results = await Promise.allSettled(stores.map((s) => s.init()))
    t.same(
      results.map((r) => r.status),
      stores.map(() => 'fulfilled'),
      results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : [])).join('; ') || 'all fulfilled',
    )
    const admin = new pg.Client({ connectionString: BASE_URL })
    await admin.connect()
    t.teardown(() => admin.end())
    const { rows } = await admin.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)
    t.same(
      rows.map((r) => r.version),
      migrations('postgres').map((_, i) => i + 1),
      'each migration applied once',
    )
    // Every store works on the one schema.
    for (const [i, s] of stores.entries()) t.equal((await s.append(manualTiny(i))).version, i + 1)
    // And a later start migrates nothing.
    const late = await openStore(t, url)
    t.equal((await late.history('tiny', 2)).length, stores.length)
  })

  t.test('two replicas on one schema: a write through one is heard by the other', async (t) => {
    const { url } = freshSchemaUrl(t)
    const a = await openStore(t, url)
    const b = await openStore(t, url)
    const heardByB: CalibrationChange[] = []
    const heardByA: CalibrationChange[] = []
    b.subscribe((c) => heardByB.push(c))
    a.subscribe((c) => heardByA.push(c))
    const r1 = await a.append(manualTiny(0.5))
    const r2 = await a.append(manualTiny(1.5, 'image', 1))
    const r3 = await b.append(manualTiny(2.5))
    t.ok(await until(() => heardByB.length === 3 && heardByA.length === 3, 5000), `both heard every write (${heardByA.length}, ${heardByB.length})`)
    const expected = [r1, r2, r3].map((r) => ({ model: r.model, model_version: r.model_version, version: r.version }))
    t.same(heardByB, expected, 'b hears a’s writes and its own, in commit order')
    t.same(heardByA, expected, 'a hears b’s write')
  })

  t.test('two deployments (schemas) in one database keep apart: versions, notifications, locks', async (t) => {
    const one = await openStore(t, freshSchemaUrl(t).url)
    const other = await openStore(t, freshSchemaUrl(t).url)
    const heardByOne: CalibrationChange[] = []
    one.subscribe((c) => heardByOne.push(c))
    await other.append(manualTiny(1))
    await other.append(manualTiny(2))
    t.equal((await one.append(manualTiny(3), 0)).version, 1, 'numbering is per schema')
    t.ok(await until(() => heardByOne.length >= 1, 5000))
    await new Promise((r) => setTimeout(r, 100))
    t.same(heardByOne, [{ model: 'tiny', model_version: 2, version: 1 }], 'only its own write is heard')
    t.same(
      (await other.history('tiny', 2)).map((r) => r.gamma),
      [2, 1],
    )
  })

  t.test('a refused or rolled-back write is not announced', async (t) => {
    const { url } = freshSchemaUrl(t)
    const a = await openStore(t, url)
    const b = await openStore(t, url)
    const heard: CalibrationChange[] = []
    b.subscribe((c) => heard.push(c))
    await a.append(manualTiny(1), 0)
    t.match(await rejection(a.append(manualTiny(2), 0)), { code: 'CALSERVE_VERSION_CONFLICT' })
    // A failure inside the transaction, after the version was taken: PostgreSQL can't store a NUL
    // in text, so the INSERT fails and the whole transaction, NOTIFY included, rolls back.
    t.ok(await rejection(a.append(manualTiny(3, 'bad\u0000name'))), 'a write that fails inside the transaction rejects')
    await a.append(manualTiny(4))
    t.ok(await until(() => heard.length >= 2, 5000))
    await new Promise((r) => setTimeout(r, 100))
    t.same(
      heard.map((c) => c.version),
      [1, 2],
      'only the committed writes',
    )
    t.same(
      (await b.history('tiny', 2)).map((r) => r.gamma),
      [4, 1],
    )
  })

  t.test('concurrent appends with the same expected_version through two replicas: exactly one wins', async (t) => {
    const { url } = freshSchemaUrl(t)
    const a = await openStore(t, url)
    const b = await openStore(t, url)
    const rounds = 25
    for (let v = 0; v < rounds; v++) {
      const results = await Promise.allSettled([a.append(manualTiny(v * 2), v), b.append(manualTiny(v * 2 + 1), v), a.append(manualTiny(-v), v)])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (won.length !== 1 || lost.some((r) => !(r.reason instanceof CalserveError && r.reason.code === 'CALSERVE_VERSION_CONFLICT'))) {
        t.fail(`round ${v}: ${won.length} won; ${lost.map((r) => String(r.reason)).join('; ')}`)
        return
      }
      const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<Store['append']>>>).value
      if (winner.version !== v + 1) return t.fail(`round ${v}: the winner took version ${winner.version}`)
      for (const l of lost) t.match(l.reason, { details: { expected_version: v, active_version: v + 1 } })
    }
    const history = await b.history('tiny', 2)
    t.same(
      history.map((r) => r.version),
      Array.from({ length: rounds }, (_, i) => rounds - i),
      `${rounds} rounds: versions 1..${rounds}, no gap, no duplicate`,
    )
    // Without expected_version, a burst through both replicas takes consecutive versions.
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append(manualTiny(i, 'burst', 1))))
    t.same(
      burst.map((r) => r.version).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    )
  })

  t.test('ActiveCalibrations on replica B follows a write through replica A', async (t) => {
    const { url } = freshSchemaUrl(t)
    const a = await openStore(t, url)
    const b = await openStore(t, url)
    const errors: unknown[] = []
    // A reconcile period far longer than the test: only the notification can bring the change.
    const active = new ActiveCalibrations(b, (e) => errors.push(e))
    await active.start(60_000)
    t.teardown(() => active.stop())
    t.equal(active.get('tiny', 2).version, 0)
    const written = await a.append(manualTiny(0.1 + 0.2))
    const started = Date.now()
    t.ok(await until(() => active.get('tiny', 2).version === 1, 2000), 'b follows a’s write')
    t.comment(`followed in ${Date.now() - started} ms`)
    t.same(active.get('tiny', 2), written, 'the whole record, γ bit-exact')
    await a.append({ ...manualTiny(0.1 + 0.2), method: 'rollback', source_version: 1 })
    t.ok(await until(() => active.get('tiny', 2).version === 2, 2000), 'and a rollback')
    t.same(errors, [])
  })

  t.test('an outage between a replica and the database: writes fail fast with STORE_UNAVAILABLE, then it resyncs', async (t) => {
    const { url } = freshSchemaUrl(t)
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    t.teardown(() => proxy.close())
    const viaProxy = new URL(url)
    viaProxy.port = String(proxy.port)
    const writer = await openStore(t, url) // the other replica, still connected
    const cutOff = await openStore(t, viaProxy.toString())
    const errors: unknown[] = []
    const active = new ActiveCalibrations(cutOff, (e) => errors.push(e))
    await active.start(60_000) // only the resync after the reconnect can bring missed changes
    t.teardown(() => active.stop())
    await writer.append(manualTiny(1))
    t.ok(await until(() => active.get('tiny', 2).version === 1, 5000), 'connected: follows')

    await proxy.cut()
    t.ok(await until(() => cutOff.state().state === 'unavailable', 2000), 'state turns unavailable')
    t.match(cutOff.state(), { state: 'unavailable', error: String })
    for (const write of [
      () => cutOff.append(manualTiny(9)),
      () =>
        cutOff.putJob({
          id: 'j',
          model: 'tiny',
          state: 'queued',
          progress: { done: 0, total: 1 },
          result: null,
          error: null,
          created_at: 'x',
          updated_at: 'x',
        }),
    ]) {
      const started = Date.now()
      const err = await rejection(write())
      t.match(err, { code: 'CALSERVE_STORE_UNAVAILABLE', statusCode: 503 }, 'a write is refused as STORE_UNAVAILABLE')
      t.ok(Date.now() - started < 3000, `and fast (${Date.now() - started} ms)`)
    }
    t.match(await rejection(cutOff.active('tiny', 2)), { code: 'CALSERVE_STORE_UNAVAILABLE' }, 'so is a read')
    // Meanwhile the other replica writes; the notification can't reach the cut-off one.
    await writer.append(manualTiny(2))
    await new Promise((r) => setTimeout(r, 300))
    t.equal(active.get('tiny', 2).version, 1, 'the cut-off replica keeps serving what it had')

    const back = Date.now()
    await proxy.restore()
    t.ok(await until(() => active.get('tiny', 2).version === 2, 5000), 'resynced after the reconnect')
    t.comment(`resynced ${Date.now() - back} ms after the database came back`)
    t.ok(await until(() => cutOff.state().state === 'open', 5000), 'state open again')
    t.equal((await cutOff.append(manualTiny(3), 2)).version, 3, 'writes work again')
    t.ok(await until(() => active.get('tiny', 2).version === 3, 5000), 'and notifications flow again')
  })

  t.test('a silent partition (nothing refused, nothing answered) is noticed; writes fail fast', async (t) => {
    const { url } = freshSchemaUrl(t)
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
    t.teardown(() => proxy.restore().then(() => proxy.close()))
    const viaProxy = new URL(url)
    viaProxy.port = String(proxy.port)
    const writer = await openStore(t, url)
    const cutOff = await openStore(t, viaProxy.toString())
    const active = new ActiveCalibrations(cutOff)
    await active.start(60_000)
    t.teardown(() => active.stop())
    await cutOff.append(manualTiny(1)) // a pooled connection, idle when the partition starts

    proxy.blackhole()
    const started = Date.now()
    t.ok(await until(() => cutOff.state().state === 'unavailable', 8000), 'state turns unavailable')
    const noticed = Date.now() - started
    t.comment(`partition noticed after ${noticed} ms`)
    const writeStarted = Date.now()
    t.match(await rejection(cutOff.append(manualTiny(9))), { code: 'CALSERVE_STORE_UNAVAILABLE' }, 'a write is refused as STORE_UNAVAILABLE')
    t.ok(Date.now() - writeStarted < 3000, `and fast (${Date.now() - writeStarted} ms)`)
    await writer.append(manualTiny(2))

    const back = Date.now()
    await proxy.restore()
    t.ok(await until(() => active.get('tiny', 2).version === 2, 8000), 'resynced after the partition heals')
    t.ok(await until(() => cutOff.state().state === 'open', 8000), 'open again')
    t.comment(`resynced ${Date.now() - back} ms after the partition healed`)
    t.equal((await cutOff.append(manualTiny(3), 2)).version, 3, 'writes work again')
  })
}
