// GET /v1/models/{name}/calibration/history in pages: a default and a maximum page size, and a
// cursor by version (`before`, the previous page's `next`). 20,000 stored versions used to come
// back whole (5.4 MB) on every GET, `?limit=` ignored.
import Database from 'better-sqlite3'
import t from 'tap'
import { CALIBRATION_COLUMNS } from '../../src/store/migrations.js'
import { sqlitePath } from '../../src/store/sqlite.js'
import { build, testConfig } from '../helper.js'
import { errorOf } from './expected.js'

const N = 20_000
const URL = '/v1/models/tiny/calibration/history'

interface Page {
  versions: Array<{ version: number; model: string; model_version: number }>
  next: number | null
}

t.test('20,000 versions: every page is small, limit is honoured, the cursor walks them all', async (t) => {
  const config = testConfig(t)
  const app = await build(t, {}, config)
  // Versions 1..N of tiny@2 in one transaction, straight in SQL (N appends would be N commits).
  const db = new Database(sqlitePath(config.storeUrl))
  db.prepare(
    `WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < ?)
     INSERT INTO calibrations (${CALIBRATION_COLUMNS}) SELECT 'tiny', 2, v, v / 1000.0, 1, 'manual', NULL, NULL,
       '2026-01-01T00:00:00.000Z', 'seed', 'version ' || v, NULL, NULL, NULL FROM s`,
  ).run(N)
  db.close()

  const get = async (query = '') => {
    const res = await app.inject({ url: URL + query })
    t.equal(res.statusCode, 200, `${query}: ${res.body.slice(0, 200)}`)
    return { page: res.json() as Page, bytes: res.rawPayload.length }
  }

  const first = await get()
  t.equal(first.page.versions.length, 50, 'the default page holds 50 versions')
  t.same([first.page.versions[0]!.version, first.page.versions[49]!.version], [N, N - 49], 'the newest first')
  t.equal(first.page.next, N - 49, 'next is the oldest version of the page')
  t.ok(first.bytes < 50_000, `the default page is small: ${first.bytes} bytes`)

  const ten = await get('?limit=10')
  t.same(
    ten.page.versions.map((r) => r.version),
    Array.from({ length: 10 }, (_, i) => N - i),
    'limit=10 gives ten',
  )
  t.ok(ten.bytes < 5_000, `${ten.bytes} bytes`)

  const older = await get(`?limit=10&before=${ten.page.next}`)
  t.same(
    older.page.versions.map((r) => r.version),
    Array.from({ length: 10 }, (_, i) => N - 10 - i),
    'before=next gives the next ten',
  )

  const last = await get('?limit=500&before=3')
  t.same(
    last.page.versions.map((r) => r.version),
    [2, 1],
  )
  t.equal(last.page.next, null, 'null on the last page')
  const exact = await get('?limit=2&before=3')
  t.same(
    exact.page.versions.map((r) => r.version),
    [2, 1],
  )
  t.equal(exact.page.next, null, 'null when the last page is exactly full')

  // The maximum page, walked to the end.
  let before: number | null = null
  let seen = 0
  let pages = 0
  do {
    const { page } = await get(`?limit=500${before === null ? '' : `&before=${before}`}`)
    t.ok(page.versions.length <= 500)
    seen += page.versions.length
    pages++
    before = page.next
  } while (before !== null && pages < 100)
  t.equal(seen, N, 'the cursor visits every version once')
  t.equal(pages, N / 500)
})

t.test('BAD CALL - a limit out of range, a bad cursor, an unknown parameter are 400s', async (t) => {
  const app = await build(t)
  for (const query of ['?limit=0', '?limit=501', '?limit=abc', '?limit=1.5', '?before=0', '?before=-3', '?before=x', '?page=2']) {
    const res = await app.inject({ url: URL + query })
    errorOf(t, res, 400, 'CALSERVE_BAD_INPUT', query)
  }
  const empty = (await app.inject({ url: URL })).json()
  t.same(empty, { versions: [], next: null }, 'an uncalibrated model: an empty last page')
})
