// The behaviour every Store must have, as a suite over a factory, so each implementation (SQLite
// now, PostgreSQL later) runs the same tests:
//
//   storeSuite(t, async (t) => { /* make a fresh, empty database */ return async () => openStore() })
//
// `makeStore(t)` creates a fresh, empty database for one subtest and returns an opener; each call of
// the opener returns a new, initialised Store on that same database (a second replica, or the
// same replica after a restart). The suite closes what it opens.
import type { Test } from 'tap'
import { CalserveError } from '../../src/errors.js'
import { rejection } from '../helper.js'
import type { CalibrationChange, JobRecord, NewCalibration, Store } from '../../src/store/types.js'

export type StoreOpener = () => Promise<Store>
/**
 * Writes versions 1..n of (model, model version) straight in SQL, in one transaction: 20,000
 * appends one by one would take a commit (and an fsync) each. Each row is as large as a fit's.
 */
export type Seeder = (model: string, modelVersion: number, n: number) => Promise<void>
export type MakeStore = (t: Test) => Promise<StoreOpener & { seed: Seeder }>

/** A manual calibration of γ for a model version, with any other fields given in `extra`. */
export const manual = (model: string, model_version: number, gamma: number, extra: Partial<NewCalibration> = {}): NewCalibration => ({
  model,
  model_version,
  gamma,
  temperature: 1,
  method: 'manual',
  ...extra,
})

/** The metrics a seeded row carries, so rows weigh what fitted ones do. */
export const SEED_METRICS = {
  acc_s_y: 0.834,
  acc_u_y: 0.513,
  acc_y_y: 0.673,
  acc_s_s: 0.975,
  acc_u_u: 0.9,
  harmonic_mean: 0.635,
  balanced_accuracy: 0.67,
  ausuc: 0.572,
  nll: 1.01,
  ece: 0.05,
}

export function storeSuite(t: Test, makeStore: MakeStore): void {
  /** A fresh database and one open store on it, closed when the subtest ends. */
  const fresh = async (t: Test): Promise<{ store: Store; open: StoreOpener }> => {
    const opener = await makeStore(t)
    const open: StoreOpener = async () => {
      const s = await opener()
      t.teardown(() => s.close())
      return s
    }
    return { store: await open(), open }
  }

  t.test('an empty store', async (t) => {
    const { store } = await fresh(t)
    t.equal(await store.active('tiny', 1), null)
    t.same(await store.history('tiny', 1), [])
    t.same(await store.activeAll(), [])
    t.equal(await store.get('tiny', 1, 1), null)
    t.equal(await store.lastCurve('tiny', 1), null)
    t.equal(await store.getJob('nope'), null)
    t.ok(store.kind === 'sqlite' || store.kind === 'postgres')
  })

  t.test('append numbers versions per (model, model version) and returns the stored record', async (t) => {
    const { store } = await fresh(t)
    const a1 = await store.append(manual('tiny', 2, 0.5))
    const a2 = await store.append(manual('tiny', 2, 0.75))
    const b1 = await store.append(manual('tiny', 1, -1))
    const c1 = await store.append(manual('image', 2, 3))
    const a3 = await store.append(manual('tiny', 2, 1))
    t.same([a1.version, a2.version, b1.version, c1.version, a3.version], [1, 2, 1, 1, 3])
    t.match(a1, {
      model: 'tiny',
      model_version: 2,
      version: 1,
      gamma: 0.5,
      temperature: 1,
      method: 'manual',
      objective: null,
      source_version: null,
      created_by: null,
      note: null,
      n_samples: null,
      digest: null,
      metrics: null,
    })
    t.ok(typeof a1.created_at === 'string' && !Number.isNaN(Date.parse(a1.created_at)), 'created_at is a timestamp')
    t.same(await store.active('tiny', 2), a3, 'the newest is active')
    t.same(await store.active('tiny', 1), b1)
    t.equal(await store.active('tiny', 3), null)
  })

  t.test('every field round-trips', async (t) => {
    const { store, open } = await fresh(t)
    const metrics = {
      acc_s_y: 0.9,
      acc_u_y: 0.25,
      acc_y_y: 0.7,
      acc_s_s: 0.95,
      acc_u_u: null,
      harmonic_mean: 0.391304347826087,
      balanced_accuracy: 0.575,
      ausuc: 0.123456789,
      nll: 0.5,
      ece: null,
    }
    // q̂_U null stands for +∞ (the group too small for α); 1/3 checks the doubles survive JSON.
    const conformal = { alpha: 0.1, score: 'lac' as const, by: 'group' as const, qhat_s: 1 / 3, qhat_u: null }
    const reference = {
      model: 'pretrained',
      version: 7,
      metrics: { acc_s_y: 0.5, acc_u_y: 0.875, acc_y_y: 0.7, harmonic_mean: 0.6363636363636364, balanced_accuracy: 0.6875, ausuc: null },
    }
    const written = await store.append({
      model: 'm',
      model_version: 4,
      gamma: 1.25,
      temperature: 1 / 3,
      method: 'sweep',
      objective: 'harmonic_mean',
      source_version: null,
      created_by: 'alice',
      note: 'ünïcødé “note”',
      n_samples: 1234,
      digest: 'a'.repeat(64),
      metrics,
      alg_samples: 'all',
      conformal,
      reference,
    })
    t.same(written.metrics, metrics)
    t.same(written.conformal, conformal, 'conformal parameters, q̂ null (+∞) included')
    t.same(written.reference, reference)
    t.equal(written.alg_samples, 'all')
    t.match(written, { method: 'sweep', objective: 'harmonic_mean', created_by: 'alice', note: 'ünïcødé “note”', n_samples: 1234, digest: 'a'.repeat(64) })
    t.ok(Object.is(written.temperature, 1 / 3))
    t.same(await store.get('m', 4, 1), written)
    t.same((await store.history('m', 4))[0], written)
    t.same(await store.active('m', 4), written)
    const plain = await store.append(manual('m', 4, 0.5))
    t.match(plain, { version: 2, alg_samples: null, conformal: null, reference: null }, 'a manual version has none of them')
    // A rollback appends a copy of the restored version's fields (src/http/calibration.ts builds it so).
    const { alg_samples, conformal: c, reference: r } = written
    const rb = await store.append({ ...manual('m', 4, written.gamma), method: 'rollback', source_version: 1, alg_samples, conformal: c, reference: r })
    t.match(rb, { version: 3, method: 'rollback', source_version: 1, alg_samples: 'all' })
    t.same(rb.conformal, conformal)
    t.same(rb.reference, reference)
    const other = await open()
    t.same(await other.get('m', 4, 1), written, 'another replica reads the same records')
    t.same(await other.active('m', 4), rb)
  })

  t.test('γ and temperature round-trip bit-exactly', async (t) => {
    const { store, open } = await fresh(t)
    const values = [0.1 + 0.2, 1e-300, -123.45678901234568, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1 / 3, Math.PI * 1e200, 2 ** -1074 * 3]
    for (const [i, gamma] of values.entries()) {
      const temperature = Math.abs(gamma) > 0 ? Math.abs(gamma) : 1
      const r = await store.append(manual('bits', 1, gamma, { temperature }))
      t.ok(Object.is(r.gamma, gamma), `returned γ ${gamma}`)
      const back = await store.get('bits', 1, i + 1)
      t.ok(back && Object.is(back.gamma, gamma) && Object.is(back.temperature, temperature), `stored γ ${gamma}: ${back?.gamma}`)
    }
    const other = await open()
    const h = await other.history('bits', 1)
    t.same(
      h.map((r) => r.gamma),
      [...values].reverse(),
      'read back by another connection',
    )
    t.ok(h.every((r, i) => Object.is(r.gamma, values[values.length - 1 - i])))
  })

  t.test('expected_version: a conflict throws VERSION_CONFLICT and writes nothing', async (t) => {
    const { store } = await fresh(t)
    const changes: CalibrationChange[] = []
    store.subscribe((c) => changes.push(c))
    const first = await store.append(manual('tiny', 2, 1), 0)
    t.equal(first.version, 1, 'expected_version 0 on an empty model version')
    t.equal((await store.append(manual('tiny', 2, 2), 1)).version, 2)
    for (const expected of [0, 1, 3, 99]) {
      const err = await rejection(store.append(manual('tiny', 2, 7), expected))
      t.ok(err instanceof CalserveError, `expected_version ${expected}: a CalserveError`)
      t.match(err, { code: 'CALSERVE_VERSION_CONFLICT', statusCode: 409, details: { expected_version: expected, active_version: 2 } })
    }
    const h = await store.history('tiny', 2)
    t.same(
      h.map((r) => [r.version, r.gamma]),
      [
        [2, 2],
        [1, 1],
      ],
      'nothing written',
    )
    await new Promise((r) => setTimeout(r, 20))
    t.same(
      changes.map((c) => c.version),
      [1, 2],
      'no change announced for a refused write',
    )
    t.equal((await store.append(manual('tiny', 1, 5), 0)).version, 1, 'expected_version is per model version')
    t.equal((await store.append(manual('tiny', 2, 3))).version, 3, 'no expected_version: always appends')
  })

  t.test('history is newest first; get finds one version', async (t) => {
    const { store } = await fresh(t)
    const gammas = [0.5, -0.25, 3, 0.125, -8]
    for (const g of gammas) await store.append(manual('tiny', 2, g))
    await store.append(manual('other', 2, 100))
    const h = await store.history('tiny', 2)
    t.same(
      h.map((r) => r.version),
      [5, 4, 3, 2, 1],
    )
    t.same(
      h.map((r) => r.gamma),
      [...gammas].reverse(),
    )
    t.ok(h.every((r) => r.model === 'tiny' && r.model_version === 2))
    t.equal((await store.get('tiny', 2, 3))?.gamma, 3)
    t.same(await store.get('tiny', 2, 3), h[2])
    t.equal(await store.get('tiny', 2, 6), null)
    t.equal(await store.get('tiny', 1, 1), null)
    t.equal(await store.get('other', 2, 2), null)
  })

  t.test('history pages: at most `limit` versions, older than `before`, newest first', async (t) => {
    const { store } = await fresh(t)
    for (let g = 1; g <= 7; g++) await store.append(manual('tiny', 2, g))
    await store.append(manual('tiny', 1, 100))
    const versions = async (page: { limit: number; before?: number }) => (await store.history('tiny', 2, page)).map((r) => r.version)
    t.same(await versions({ limit: 3 }), [7, 6, 5], 'the newest page')
    t.same(await versions({ limit: 3, before: 5 }), [4, 3, 2], 'the page before version 5')
    t.same(await versions({ limit: 3, before: 2 }), [1], 'the last page is short')
    t.same(await versions({ limit: 3, before: 1 }), [], 'nothing before version 1')
    t.same(await versions({ limit: 100 }), [7, 6, 5, 4, 3, 2, 1], 'a limit above the count')
    t.same(await versions({ limit: 2, before: 1000 }), [7, 6], 'a cursor above the newest')
    t.same((await store.history('tiny', 2)).length, 7, 'no page: every version')
    t.same(
      (await store.history('tiny', 1, { limit: 5 })).map((r) => r.gamma),
      [100],
      'per model version',
    )
  })

  t.test('history of 20,000 versions: a page is one small LIMIT query', async (t) => {
    const opener = await makeStore(t)
    const store = await opener()
    t.teardown(() => store.close())
    await opener.seed('big', 1, 20_000)
    t.equal((await store.active('big', 1))?.version, 20_000, 'seeded')
    const started = performance.now()
    const page = await store.history('big', 1, { limit: 10 })
    const ms = performance.now() - started
    t.same(
      page.map((r) => r.version),
      [20_000, 19_999, 19_998, 19_997, 19_996, 19_995, 19_994, 19_993, 19_992, 19_991],
      'limit 10 honoured',
    )
    const middle = await store.history('big', 1, { limit: 500, before: 10_001 })
    t.equal(middle.length, 500)
    t.same([middle[0]!.version, middle[499]!.version], [10_000, 9_501], 'a page from the middle')
    t.ok(JSON.stringify(page).length < 10_000, `a page of 10 is small (${JSON.stringify(page).length} bytes)`)
    t.comment(`page of 10 out of 20,000 in ${ms.toFixed(1)} ms`)
    // Walking the whole history by the cursor visits every version once.
    let before: number | undefined
    let seen = 0
    for (;;) {
      const p = await store.history('big', 1, { limit: 500, ...(before === undefined ? {} : { before }) })
      if (p.length === 0) break
      seen += p.length
      before = p[p.length - 1]!.version
    }
    t.equal(seen, 20_000, 'the cursor walks all 20,000 versions')
  })

  t.test('activeAll returns the newest of every model version', async (t) => {
    const { store } = await fresh(t)
    await store.append(manual('a', 1, 1))
    await store.append(manual('a', 1, 2))
    await store.append(manual('a', 2, 3))
    await store.append(manual('b', 1, 4))
    await store.append(manual('b', 1, 5))
    await store.append(manual('b', 1, 6))
    const all = await store.activeAll()
    const seen = all.map((r) => [r.model, r.model_version, r.version, r.gamma]).sort((x, y) => String(x).localeCompare(String(y)))
    t.same(seen, [
      ['a', 1, 2, 2],
      ['a', 2, 1, 3],
      ['b', 1, 3, 6],
    ])
  })

  t.test('lastCurve is the newest fit that stored a curve', async (t) => {
    const { store } = await fresh(t)
    const curve = {
      points: [
        { gamma: -1, acc_s_y: 1, acc_u_y: 0, acc_y_y: 0.5 },
        { gamma: 0.1 + 0.2, acc_s_y: 0.5, acc_u_y: 0.5, acc_y_y: 0.5 },
      ],
      marks: [{ name: 'fitted', gamma: 0.3, acc_s_y: 0.5, acc_u_y: 0.5 }],
    }
    const metrics = { acc_s_y: 1, acc_u_y: 0, acc_y_y: 0.5, acc_s_s: 1, acc_u_u: 1, harmonic_mean: 0, balanced_accuracy: 0.5, ausuc: 0.625 }
    await store.append({ ...manual('m', 1, 0.3), method: 'sweep', metrics, curve })
    await store.append(manual('m', 1, 9))
    const last = await store.lastCurve('m', 1)
    t.same(last, { version: 1, ausuc: 0.625, points: curve.points, marks: curve.marks })
    t.equal(await store.lastCurve('m', 2), null)
  })

  t.test('jobs: put, get, update', async (t) => {
    const { store, open } = await fresh(t)
    const job: JobRecord = {
      id: 'job-1',
      model: 'tiny',
      state: 'queued',
      progress: { done: 0, total: 100 },
      result: null,
      error: null,
      created_at: '2024-01-01T00:00:00.000Z',
      updated_at: '2024-01-01T00:00:00.000Z',
    }
    await store.putJob(job)
    t.same(await store.getJob('job-1'), job)
    const done: JobRecord = {
      ...job,
      state: 'succeeded',
      progress: { done: 100, total: 100 },
      result: { gamma: 0.1 + 0.2, nested: { list: [1, 2, null] } },
      updated_at: '2024-01-01T00:01:00.000Z',
    }
    await store.putJob(done)
    t.same(await store.getJob('job-1'), done)
    const failed: JobRecord = {
      ...job,
      id: 'job-2',
      state: 'failed',
      error: { code: 'CALSERVE_BAD_INPUT', message: 'no', details: { field: 'labels' } },
    }
    await store.putJob(failed)
    t.same(await store.getJob('job-2'), failed)
    t.same(await store.getJob('job-1'), done, 'the other job is untouched')
    t.same(await (await open()).getJob('job-2'), failed, 'seen by another connection')
  })

  t.test('subscribe is told of each change after it commits; unsubscribe stops it', async (t) => {
    const { store } = await fresh(t)
    const seen: Array<{ change: CalibrationChange; activeThen: Promise<number | undefined> }> = []
    const off = store.subscribe((change) => {
      // Reading back inside the listener shows the write had committed — unless a notification sent
      // before COMMIT loses the race to this read; test/store/postgres.test.ts holds a COMMIT open
      // to check the order without a race.
      seen.push({ change, activeThen: store.active(change.model, change.model_version).then((r) => r?.version) })
    })
    await store.append(manual('tiny', 2, 1))
    await store.append(manual('tiny', 1, 1))
    await store.append(manual('tiny', 2, 1))
    // Stores that notify asynchronously (Postgres) get a moment.
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20))
    t.same(
      seen.map((s) => s.change),
      [
        { model: 'tiny', model_version: 2, version: 1 },
        { model: 'tiny', model_version: 1, version: 1 },
        { model: 'tiny', model_version: 2, version: 2 },
      ],
    )
    const activeThen = await Promise.all(seen.map((s) => s.activeThen))
    t.ok(activeThen[0]! >= 1 && activeThen[1] === 1 && activeThen[2] === 2, `committed when told (${activeThen})`)
    off()
    await store.append(manual('tiny', 2, 1))
    await new Promise((r) => setTimeout(r, 50))
    t.equal(seen.length, 3, 'nothing after unsubscribe')
  })

  t.test('two connections to one database share versions and conflicts', async (t) => {
    const { store: a, open } = await fresh(t)
    const b = await open()
    await a.append(manual('tiny', 2, 1))
    t.equal((await b.active('tiny', 2))?.gamma, 1, 'b reads a’s write')
    t.equal((await b.append(manual('tiny', 2, 2), 1)).version, 2, 'b appends after it')
    const err = await rejection(a.append(manual('tiny', 2, 3), 1))
    t.match(err, { code: 'CALSERVE_VERSION_CONFLICT', details: { active_version: 2 } }, 'a sees b’s version in the conflict')
    // Concurrent appends never take the same version.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append(manual('race', 1, i))))
    t.same(
      results.map((r) => r.version).sort((x, y) => x - y),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    )
  })

  t.test('closing and reopening keeps everything', async (t) => {
    const opener = await makeStore(t)
    const first = await opener()
    await first.append(manual('tiny', 2, 0.1 + 0.2, { note: 'kept' }))
    await first.append(manual('tiny', 2, -1e-300))
    await first.append(manual('image', 1, 4))
    await first.putJob({
      id: 'j',
      model: 'tiny',
      state: 'running',
      progress: { done: 3, total: 9 },
      result: null,
      error: null,
      created_at: '2024-01-01T00:00:00.000Z',
      updated_at: '2024-01-01T00:00:01.000Z',
    })
    const history = await first.history('tiny', 2)
    const all = await first.activeAll()
    const job = await first.getJob('j')
    await first.close()

    const again = await opener()
    t.teardown(() => again.close())
    t.same(await again.history('tiny', 2), history)
    t.ok(Object.is((await again.get('tiny', 2, 1))?.gamma, 0.1 + 0.2))
    t.same(
      (await again.activeAll()).sort((x, y) => x.model.localeCompare(y.model)),
      all.sort((x, y) => x.model.localeCompare(y.model)),
    )
    t.same(await again.getJob('j'), job)
    t.equal((await again.append(manual('tiny', 2, 5))).version, 3, 'numbering continues')
  })
}
