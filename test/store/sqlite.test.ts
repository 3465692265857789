// The shared store suite on SqliteStore, plus what only the SQLite store has.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { CALIBRATION_COLUMNS, migrations } from '../../src/store/migrations.js'
import { createStore } from '../../src/store/index.js'
import { SqliteStore, sqlitePath } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'
import { SEED_METRICS, storeSuite } from './suite.js'

storeSuite(t, async (t) => {
  const file = join(tempDir(t, 'calserve-sqlite-'), 'calserve.db')
  const open = async () => {
    const store = new SqliteStore(file)
    await store.init()
    return store
  }
  return Object.assign(open, {
    async seed(model: string, modelVersion: number, n: number) {
      const db = new Database(file)
      try {
        db.prepare(
          `WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < ?)
           INSERT INTO calibrations (${CALIBRATION_COLUMNS}) SELECT ?, ?, v, v / 1000.0, 1, 'manual', NULL, NULL,
             '2026-01-01T00:00:00.000Z', 'seed', 'seeded version ' || v, 180, NULL, ? FROM s`,
        ).run(n, model, modelVersion, JSON.stringify(SEED_METRICS))
      } finally {
        db.close()
      }
    },
  })
})

t.test('sqlite URLs', async (t) => {
  t.equal(sqlitePath('sqlite:./data/calserve.db'), './data/calserve.db')
  t.equal(sqlitePath('sqlite:///var/lib/calserve.db'), '/var/lib/calserve.db')
  t.equal(sqlitePath('sqlite::memory:'), ':memory:')
  t.ok(createStore('sqlite:/tmp/x.db') instanceof SqliteStore)
  t.throws(() => createStore('mysql://db'), /unsupported store URL/)
})

t.test('init creates missing folders; a second init on the same file migrates nothing twice', async (t) => {
  const file = join(tempDir(t), 'a', 'b', 'c.db')
  const s1 = new SqliteStore(file)
  await s1.init()
  t.ok(existsSync(file))
  await s1.append({ model: 'm', model_version: 1, gamma: 1, temperature: 1, method: 'manual' })
  await s1.close()
  const s2 = createStore(`sqlite:${file}`)
  await s2.init()
  t.teardown(() => s2.close())
  t.equal(s2.kind, 'sqlite')
  t.equal((await s2.history('m', 1)).length, 1)
})

t.test('a file at migration 2 migrates: its versions read with no alg_samples, conformal or reference', async (t) => {
  const file = join(tempDir(t), 'old.db')
  const db = new Database(file)
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)')
  for (const [i, sql] of migrations('sqlite').slice(0, 2).entries()) {
    db.exec(sql)
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(i + 1, '2026-01-01T00:00:00.000Z')
  }
  db.prepare(
    `INSERT INTO calibrations (${CALIBRATION_COLUMNS}) VALUES ('tiny', 2, 1, 0.5, 1, 'alg', NULL, NULL, '2026-01-01T00:00:00.000Z', NULL, NULL, 3, NULL, NULL)`,
  ).run()
  db.close()
  const store = new SqliteStore(file)
  await store.init()
  t.teardown(() => store.close())
  t.match(await store.get('tiny', 2, 1), { gamma: 0.5, method: 'alg', alg_samples: null, conformal: null, reference: null })
  const next = await store.append({ model: 'tiny', model_version: 2, gamma: 1, temperature: 1, method: 'manual', alg_samples: null })
  t.match(next, { version: 2, alg_samples: null, conformal: null })
})

t.test('an in-memory store works and a closed store refuses with STORE_UNAVAILABLE', async (t) => {
  const s = new SqliteStore(':memory:')
  await s.init()
  t.equal((await s.append({ model: 'm', model_version: 1, gamma: 1, temperature: 1, method: 'manual' })).version, 1)
  await s.close()
  await t.rejects(s.active('m', 1), { code: 'CALSERVE_STORE_UNAVAILABLE', statusCode: 503 })
  await s.close() // twice is harmless
})
