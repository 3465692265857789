// The shared store suite on SqliteStore, plus what only the SQLite store has.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { createStore } from '../../src/store/index.js'
import { SqliteStore, sqlitePath } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'
import { storeSuite } from './suite.js'

storeSuite(t, async (t) => {
  const file = join(tempDir(t, 'calserve-sqlite-'), 'calserve.db')
  return async () => {
    const store = new SqliteStore(file)
    await store.init()
    return store
  }
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

t.test('an in-memory store works and a closed store refuses with STORE_UNAVAILABLE', async (t) => {
  const s = new SqliteStore(':memory:')
  await s.init()
  t.equal((await s.append({ model: 'm', model_version: 1, gamma: 1, temperature: 1, method: 'manual' })).version, 1)
  await s.close()
  await t.rejects(s.active('m', 1), { code: 'CALSERVE_STORE_UNAVAILABLE', statusCode: 503 })
  await s.close() // twice is harmless
})
