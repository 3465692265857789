// ActiveCalibrations: the in-memory active calibration of every model version.
import { join } from 'node:path'
import t from 'tap'
import { ActiveCalibrations, identityCalibration } from '../../src/store/active.js'
import { SqliteStore } from '../../src/store/sqlite.js'
import type { CalibrationRecord } from '../../src/store/types.js'
import { tempDir, until } from '../helper.js'
import { manual } from './suite.js'

// The γ of model tiny, version 2, set by hand.
const manualTiny = (gamma: number, model = 'tiny', model_version = 2) => manual(model, model_version, gamma)

async function openStore(t: Parameters<typeof tempDir>[0], file: string): Promise<SqliteStore> {
  const s = new SqliteStore(file)
  await s.init()
  t.teardown(() => s.close())
  return s
}

t.test('get answers the identity for an unknown model version', async (t) => {
  const store = await openStore(t, ':memory:')
  const active = new ActiveCalibrations(store)
  t.same(active.get('tiny', 2), identityCalibration('tiny', 2))
  t.match(active.get('tiny', 2), { version: 0, gamma: 0, temperature: 1, method: 'none' })
})

t.test('offer keeps only newer versions, per model version', async (t) => {
  const store = await openStore(t, ':memory:')
  const changed: CalibrationRecord[] = []
  const active = new ActiveCalibrations(store, undefined, (r) => changed.push(r))
  const rec = (version: number, gamma: number, model_version = 2): CalibrationRecord => ({
    ...identityCalibration('tiny', model_version),
    version,
    gamma,
    method: 'manual',
  })
  t.equal(active.offer(rec(2, 0.5)), true)
  t.equal(active.get('tiny', 2).gamma, 0.5)
  t.equal(active.offer(rec(1, 9)), false, 'older is ignored')
  t.equal(active.offer(rec(2, 9)), false, 'equal is ignored')
  t.equal(active.get('tiny', 2).gamma, 0.5)
  t.equal(active.offer(rec(3, -1)), true)
  t.equal(active.get('tiny', 2).gamma, -1)
  t.equal(active.offer(rec(1, 7, 1)), true, 'another model version is separate')
  t.equal(active.get('tiny', 1).gamma, 7)
  t.equal(active.get('tiny', 2).version, 3)
  t.same(
    changed.map((r) => [r.model_version, r.version]),
    [
      [2, 2],
      [2, 3],
      [1, 1],
    ],
    'onChange only for accepted records',
  )
})

t.test('reconcile picks up a write made by another store on the same file', async (t) => {
  const file = join(tempDir(t), 'shared.db')
  const mine = await openStore(t, file)
  const theirs = await openStore(t, file)
  const active = new ActiveCalibrations(mine)
  await active.start(60_000)
  t.teardown(() => active.stop())

  await theirs.append(manualTiny(0.5))
  await theirs.append(manualTiny(1.25, 'image', 1))
  await new Promise((r) => setTimeout(r, 30))
  t.equal(active.get('tiny', 2).version, 0, 'not told: another process’s write')
  await active.reconcile()
  t.match(active.get('tiny', 2), { version: 1, gamma: 0.5 })
  t.match(active.get('image', 1), { version: 1, gamma: 1.25 })

  // A rollback elsewhere appends a higher version, so reconcile follows it too.
  await theirs.append({ ...manualTiny(0.5), method: 'rollback', source_version: 1 })
  await active.reconcile()
  t.match(active.get('tiny', 2), { version: 2, method: 'rollback', source_version: 1 })
})

t.test('start follows this store’s changes and reconciles periodically; stop stops both', async (t) => {
  const file = join(tempDir(t), 'shared.db')
  const mine = await openStore(t, file)
  const theirs = await openStore(t, file)
  await theirs.append(manualTiny(3))
  const errors: unknown[] = []
  const active = new ActiveCalibrations(mine, (e) => errors.push(e))
  await active.start(100)
  t.teardown(() => active.stop())
  t.equal(active.get('tiny', 2).gamma, 3, 'start reconciles at once')

  await mine.append(manualTiny(4))
  t.ok(await until(() => active.get('tiny', 2).version === 2), 'a change notification is followed')
  t.equal(active.get('tiny', 2).gamma, 4)

  await theirs.append(manualTiny(5))
  t.ok(await until(() => active.get('tiny', 2).version === 3), 'the periodic reconcile picks up another store’s write')
  t.equal(active.get('tiny', 2).gamma, 5)

  active.stop()
  await mine.append(manualTiny(6))
  await theirs.append(manualTiny(7))
  await new Promise((r) => setTimeout(r, 300))
  t.equal(active.get('tiny', 2).version, 3, 'nothing followed after stop')
  t.same(errors, [])
})
