// onnxruntime's default intra-op pool pins its threads to the machine's cores, whatever the
// process's CPU affinity: under `taskset -c 0` one pool thread was pinned to CPU 1 (seen on the
// landed main by the bench, which found calserve's ResNet rows at 176% of a "one-core" server).
// calserve passes an explicit thread count (runner.ts intraOpThreads), so every thread of a
// server started on CPU 0 stays on CPU 0, as a container's cpuset or the k8s CPU manager expects.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { intraOpThreads } from '../../src/models/runner.js'
import { start, stop, waitReady } from '../e2e/process.js'

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'])
    return true
  } catch {
    return false
  }
}

t.test('intra_op_threads 0 is one thread per CPU the process may use', async (t) => {
  t.equal(intraOpThreads({ intra_op_threads: 0 }), availableParallelism())
  t.equal(intraOpThreads({ intra_op_threads: 3 }), 3, 'an explicit count is kept')
})

t.test('a server started under taskset -c 0 keeps every thread on CPU 0', { skip: availableParallelism() < 2 || !hasTaskset() ? 'needs taskset and 2 CPUs' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'calserve-threads-'))
  // The demo models: an MLP and the Fashion-MNIST CNN, each with its onnxruntime session.
  const server = await start(t, { CALSERVE_STORE_URL: `sqlite:${join(dir, 'store.db')}`, CALSERVE_MODEL_REPOSITORY: 'models' }, { cpus: '0' })
  await waitReady(server)
  const res = await fetch(`${server.url}/v1/models/fashion-finetuned/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [new Array(784).fill(0.5)] }),
  })
  t.equal(res.status, 200, 'the pinned server answers')
  const pid = server.proc.pid!
  const allowed = readdirSync(`/proc/${pid}/task`).map((tid) => {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
    return `${tid}:${/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1]}`
  })
  const elsewhere = allowed.filter((a) => !a.endsWith(':0'))
  t.same(elsewhere, [], `every one of the ${allowed.length} threads may run on CPU 0 only`)
  t.equal((await stop(server)).code, 0)
})
