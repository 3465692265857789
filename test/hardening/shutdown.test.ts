// Graceful shutdown of the real process under load. On SIGTERM /health/ready turns 503 first
// (while the listener is still open for CALSERVE_SHUTDOWN_DELAY_MS), then the listener closes,
// in-flight requests finish, and the sessions and the store close; the process exits 0.
//
// A steady predict load runs on N keep-alive connections (node:http with a keep-alive Agent).
// Every request that got an answer got a 200 or a clean refusal (a 503 with a JSON body); no
// request that was in flight when SIGTERM was sent fails with a socket error. A fit job in flight
// at SIGTERM finishes and is recorded as succeeded.
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from '../helper.js'
import { call, start, stop, waitReady, type Server } from '../e2e/process.js'

interface Outcome {
  started: number
  ended: number
  status?: number
  body?: string
  error?: string
}

function post(agent: Agent, port: number, path: string, body: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')))
    req.end(body)
  })
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('client timeout')))
    req.end()
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A clean refusal: 503 with a JSON error body (calserve's, or Fastify's while it closes). */
function cleanRefusal(o: Outcome): boolean {
  if (o.status !== 503) return false
  try {
    const b = JSON.parse(o.body ?? '') as { error?: unknown }
    return b.error !== undefined
  } catch {
    return false
  }
}

interface LoadResult {
  outcomes: Outcome[]
  sigtermAt: number
  ready: Array<{ at: number; status?: number; error?: string }>
  exit: { code: number | null; signal: NodeJS.Signals | null }
}

/**
 * Runs `loops` keep-alive predict loops against `server`, sends SIGTERM after `warmupMs`, polls
 * /health/ready on fresh connections from then on, and stops when the process has exited.
 */
async function loadAndTerminate(
  server: Server,
  opts: { loops: number; warmupMs: number; path: string; body: string; onSigterm?: () => void },
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.loops })
  const outcomes: Outcome[] = []
  let exited = false
  void server.exited.then(() => (exited = true))
  let refused = false
  const loop = async () => {
    while (!exited && !refused) {
      const o: Outcome = { started: performance.now(), ended: 0 }
      outcomes.push(o)
      try {
        const res = await post(agent, server.port, opts.path, opts.body)
        o.status = res.status
        o.body = res.body
      } catch (err) {
        o.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        // The listener is gone: nothing more to send.
        if (o.error === 'ECONNREFUSED') refused = true
      }
      o.ended = performance.now()
    }
  }
  const loops = Array.from({ length: opts.loops }, loop)
  await sleep(opts.warmupMs)

  const ready: LoadResult['ready'] = []
  const sigtermAt = performance.now()
  server.proc.kill('SIGTERM')
  opts.onSigterm?.()
  const readyPoll = (async () => {
    while (!exited) {
      const at = performance.now()
      try {
        const res = await get(server.port, '/health/ready')
        ready.push({ at, status: res.status })
      } catch (err) {
        ready.push({ at, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message })
        if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') break
      }
      await sleep(20)
    }
  })()
  const exit = await server.exited
  await Promise.all([...loops, readyPoll])
  agent.destroy()
  return { outcomes, sigtermAt, ready, exit }
}

function summarise(t: Test, server: Server, r: LoadResult, what: string) {
  const count = (xs: Outcome[], f: (o: Outcome) => boolean) => xs.filter(f).length
  const before = r.outcomes.filter((o) => o.started < r.sigtermAt)
  const inFlight = before.filter((o) => o.ended >= r.sigtermAt)
  const after = r.outcomes.filter((o) => o.started >= r.sigtermAt)
  const failedBefore = before.filter((o) => o.error !== undefined)
  const answered = r.outcomes.filter((o) => o.status !== undefined)
  const bad = answered.filter((o) => o.status !== 200 && !cleanRefusal(o))
  const errorsAfter = after.filter((o) => o.error !== undefined)
  const kinds = [...new Set(errorsAfter.map((o) => o.error))].map((k) => `${k}×${count(errorsAfter, (o) => o.error === k)}`).join(', ')
  t.comment(
    `${what}: ${r.outcomes.length} requests; ${before.length} started before SIGTERM, ${inFlight.length} of them in flight at SIGTERM; ` +
      `${failedBefore.length} of those failed; after SIGTERM: ${count(after, (o) => o.status === 200)} × 200, ` +
      `${count(after, (o) => o.status === 503)} × 503, ${errorsAfter.length} refused or reset at the socket (${kinds || 'none'})`,
  )
  const doneBefore = before.filter((o) => o.ended < r.sigtermAt)
  t.ok(
    doneBefore.some((o) => o.status === 200) && doneBefore.every((o) => o.status === 200 || cleanRefusal(o)),
    `${what}: before SIGTERM, every request got a 200 or a shed 503 (${count(doneBefore, (o) => o.status === 200)} × 200 of ${doneBefore.length})`,
  )
  t.ok(before.length > 0 && inFlight.length > 0, `${what}: requests were in flight when SIGTERM was sent (${inFlight.length})`)
  t.same(
    failedBefore.map((o) => o.error),
    [],
    `${what}: no request started before SIGTERM failed at the socket`,
  )
  t.same(
    bad.map((o) => `${o.status} ${o.body?.slice(0, 200)}`),
    [],
    `${what}: every answer is a 200 or a clean 503 refusal`,
  )
  t.ok(
    after.every((o) => o.error === undefined || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'socket hang up'].includes(o.error)),
    `${what}: requests after SIGTERM fail only by refusal or reset of a closed connection (${kinds || 'none'})`,
  )
  t.same(r.exit, { code: 0, signal: null }, `${what}: the process exits 0`) || t.comment(server.output().slice(-4000))
  return { before, inFlight, failedBefore }
}

t.test('SIGTERM under predict load, with a readiness delay: ready turns 503 first, nothing in flight is lost', async (t) => {
  const file = join(tempDir(t, 'calserve-shutdown-'), 'calserve.db')
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${file}`,
    CALSERVE_SHUTDOWN_DELAY_MS: '500',
    CALSERVE_LOG_LEVEL: 'warn',
  })
  await waitReady(server)
  const body = JSON.stringify({ inputs: Array.from({ length: 64 }, (_, i) => [i / 64, 1 - i / 64, 0.5]), top_k: 2 })
  const r = await loadAndTerminate(server, { loops: 8, warmupMs: 1500, path: '/v1/models/tiny/predict', body })
  summarise(t, server, r, 'delay 500 ms')

  // Readiness: 503 (ready: false) while the listener is still open, then refused.
  const firstNotReady = r.ready.find((p) => p.status === 503)
  const firstRefused = r.ready.find((p) => p.error === 'ECONNREFUSED')
  t.ok(firstNotReady, `/health/ready answered 503 after SIGTERM (${r.ready.map((p) => p.status ?? p.error).join(' ')})`)
  // A probe sent just before the signal reached the process may still answer 200; what must never
  // happen is a 200 after the first 503.
  t.notOk(
    r.ready.slice(firstNotReady ? r.ready.indexOf(firstNotReady) : 0).some((p) => p.status === 200),
    'never ready again once draining began',
  )
  if (firstNotReady && firstRefused) {
    t.ok(firstNotReady.at < firstRefused.at, 'not ready before the listener closed')
    t.ok(firstRefused.at - r.sigtermAt >= 400, `the listener stayed open for the delay (closed ${Math.round(firstRefused.at - r.sigtermAt)} ms after SIGTERM)`)
  }
  // Served on during the delay: new requests after SIGTERM still got answers until the close.
  t.ok(
    r.outcomes.some((o) => o.started > r.sigtermAt + 100 && o.status === 200),
    'predicts are still served during the readiness delay',
  )
})

t.test('SIGTERM under heavier predict load, no delay: in-flight requests finish', async (t) => {
  const file = join(tempDir(t, 'calserve-shutdown-'), 'calserve.db')
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${file}`,
    CALSERVE_LOG_LEVEL: 'warn',
    CALSERVE_MODEL_REPOSITORY: 'models',
  })
  await waitReady(server)
  // Each request is large enough (256 samples of 64 pixels) to be in flight for a while, and the
  // eight together stay within the model's queue bound (2048 samples), so they are served, not shed.
  const body = JSON.stringify({ inputs: Array.from({ length: 256 }, (_, i) => Array.from({ length: 64 }, (_, j) => ((i * 7 + j) % 17) / 17)) })
  const r = await loadAndTerminate(server, { loops: 8, warmupMs: 1500, path: '/v1/models/digits-finetuned/predict', body })
  summarise(t, server, r, 'no delay')
})

t.test('a fit job in flight at SIGTERM finishes and is recorded as succeeded', async (t) => {
  const file = join(tempDir(t, 'calserve-shutdown-'), 'calserve.db')
  const env = { CALSERVE_STORE_URL: `sqlite:${file}`, CALSERVE_LOG_LEVEL: 'warn', CALSERVE_SHUTDOWN_GRACE_MS: '30000' }
  const first = await start(t, env)
  await waitReady(first)
  // A set large enough to take a while: tiny's samples of both fine-tuning and absent classes.
  const n = 60_000
  const inputs = Array.from({ length: n }, (_, i) => [((i * 13) % 29) / 7 - 2, ((i * 7) % 31) / 8 - 2, ((i * 5) % 23) / 6 - 2])
  const labels = Array.from({ length: n }, (_, i) => ['cat', 'dog', 'bird', 'fish'][(i * 3) % 4]!)
  const accepted = await call(first, 'POST', '/v1/models/tiny/calibration/fit', { inputs, labels, async: true, note: 'across SIGTERM' })
  t.equal(accepted.status, 202, accepted.text)
  const id = accepted.json.job_id as string
  const seen = await call(first, 'GET', `/v1/jobs/${id}`)
  t.ok(['queued', 'running'].includes(seen.json.state), `the job is in flight at SIGTERM (${seen.json.state}, ${JSON.stringify(seen.json.progress)})`)
  const sigtermAt = Date.now()
  const exit = await stop(first, 'SIGTERM', 60_000)
  t.same(exit, { code: 0, signal: null }, 'exits 0 after the job')

  const second = await start(t, env)
  await waitReady(second)
  const job = await call(second, 'GET', `/v1/jobs/${id}`)
  t.equal(job.status, 200, job.text)
  t.equal(job.json.state, 'succeeded', `recorded as succeeded (${job.text.slice(0, 300)})`)
  t.same(job.json.progress, { done: n, total: n })
  t.ok(Date.parse(job.json.updated_at) >= sigtermAt, `it finished after SIGTERM (${Date.parse(job.json.updated_at) - sigtermAt} ms after)`)
  t.equal(job.json.result?.calibration?.version, 1, 'the fit stored version 1')
  const cal = await call(second, 'GET', '/v1/models/tiny/calibration')
  t.match(cal.json, { version: 1, method: 'sweep', note: 'across SIGTERM', n_samples: n })
  t.same(await stop(second), { code: 0, signal: null })
})
