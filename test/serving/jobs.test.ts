// Issue 18 item 4: fit jobs are bounded, orphaned jobs are failed, finished jobs expire. On the
// landed main a job whose process died read `running` forever, 2,000 concurrent async fits were all
// accepted, and the jobs table was never cleaned.
import { join } from 'node:path'
import t from 'tap'
import { createStore } from '../../src/store/index.js'
import type { JobRecord } from '../../src/store/types.js'
import { build, tempDir, testConfig, until } from '../helper.js'

const FIT = '/v1/models/tiny/calibration/fit'
const set = { inputs: [[0, 1, 2], [1, 0, 2], [2, 1, 0], [-1, 0, 1]], labels: ['cat', 'dog', 'bird', 'fish'] }

function job(id: string, state: JobRecord['state'], updatedAt: string): JobRecord {
  return { id, model: 'tiny', state, progress: { done: 0, total: 4 }, result: null, error: null, created_at: updatedAt, updated_at: updatedAt }
}

t.test('past CALSERVE_MAX_QUEUED_JOBS an async fit is a 503 with Retry-After, and nothing is queued for it', async (t) => {
  const app = await build(t, { CALSERVE_MAX_QUEUED_JOBS: '2' })
  const answers = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: FIT, payload: { ...set, async: true, dry_run: true } })))
  const accepted = answers.filter((r) => r.statusCode === 202)
  const refused = answers.filter((r) => r.statusCode === 503)
  t.ok(accepted.length >= 2 && accepted.length <= 2 + 1, `at most the bound accepted at once (${accepted.length})`)
  t.equal(accepted.length + refused.length, 6)
  for (const r of refused) {
    t.equal(r.json().error.code, 'CALSERVE_OVERLOADED')
    t.equal(r.headers['retry-after'], '1')
  }
  for (const r of accepted) {
    const id = r.json().job_id as string
    t.ok(await until(async () => (await app.inject({ url: `/v1/jobs/${id}` })).json().state === 'succeeded', 10_000), `job ${id} finishes`)
  }
  const again = await app.inject({ method: 'POST', url: FIT, payload: { ...set, async: true, dry_run: true } })
  t.equal(again.statusCode, 202, 'once the queue drained, a job is accepted again')
})

t.test('on start, jobs a dead replica left queued or running fail, and finished jobs past retention are deleted', async (t) => {
  const url = `sqlite:${join(tempDir(t), 'jobs.db')}`
  const store = createStore(url)
  await store.init()
  const old = new Date(Date.now() - 3_600_000).toISOString()
  const fresh = new Date().toISOString()
  await store.putJob(job('orphan-running', 'running', old))
  await store.putJob(job('orphan-queued', 'queued', old))
  await store.putJob(job('expired', 'succeeded', old))
  await store.putJob(job('recent-done', 'succeeded', fresh))
  await store.close()

  const app = await build(t, {}, { ...testConfig(t, { CALSERVE_STORE_URL: url }), jobLeaseMs: 60_000, jobRetentionMs: 600_000 })
  for (const id of ['orphan-running', 'orphan-queued']) {
    const res = await app.inject({ url: `/v1/jobs/${id}` })
    t.equal(res.json().state, 'failed', `${id} is failed`)
    t.match(res.json().error.message, /replica running this job stopped/)
  }
  t.equal((await app.inject({ url: '/v1/jobs/expired' })).statusCode, 404, 'an expired job is gone')
  t.equal((await app.inject({ url: '/v1/jobs/recent-done' })).json().state, 'succeeded', 'a recent one is kept')
})

t.test('a running job is heartbeated, so the sweep of another replica leaves it alone', async (t) => {
  const app = await build(t, {}, { ...testConfig(t), jobLeaseMs: 300 })
  const res = await app.inject({ method: 'POST', url: FIT, payload: { ...set, async: true, dry_run: true } })
  const id = res.json().job_id as string
  t.ok(await until(async () => (await app.inject({ url: `/v1/jobs/${id}` })).json().state === 'succeeded', 10_000))
  // A job held by this replica but not started: the heartbeat keeps it fresh past several leases.
  const blocker = new Promise<void>((r) => setTimeout(r, 1200))
  const held = await app.jobs.submit('tiny', 1, () => blocker)
  await blocker
  t.ok(await until(async () => (await app.store.getJob(held.id))?.state === 'succeeded', 5000), 'it was never failed as orphaned')
})
