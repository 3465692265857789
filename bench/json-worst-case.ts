// The worst a request the limits accept can cost, and what refusing the ones they don't costs
// (issue 18 item 2; SECURITY.md "Limits on what a request can cost" quotes this). It starts calserve
// on the demo models with the default limits, sends each body below `--repeat` times, one at a
// time, and times the whole request (first byte sent to last byte answered) while a probe sends
// GET /health/live back to back and records its slowest answer: that is how long the event loop
// was held. Not part of npm test.
//
//   npx tsx bench/json-worst-case.ts --repeat 5
import { request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { startServer, rssOf } from './lib/child.js'
import { freePort } from '../test/support/ports.js'

const ROOT = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({ options: { repeat: { type: 'string', default: '5' } } })
const REPEAT = Number(args.repeat)
const MiB = 1024 * 1024
// The defaults of src/config.ts, which the server below runs with.
const PREDICT_LIMIT = 16 * MiB
const FIT_JSON_LIMIT = 64 * MiB
const MAX_SAMPLES = 4096

interface Answer {
  status: number
  ms: number
  body: string
}

/** POSTs `body` and resolves with the status, the time to the answer's last byte and the answer. */
function post(base: string, path: string, body: Buffer, type = 'application/json'): Promise<Answer> {
  return new Promise((done, fail) => {
    const started = performance.now()
    const req = request(`${base}${path}`, { method: 'POST', agent: false, headers: { 'content-type': type, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        done({ status: res.statusCode!, ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8').slice(0, 200) })
        req.destroy()
      })
    })
    // A body refused before it was all read: the answer is what counts, the write may then fail.
    req.on('error', (err) => fail(err))
    req.end(body)
  })
}

/** Sends GET /health/live back to back until stopped; resolves with the slowest answer in ms. */
function probe(base: string): { stop: () => Promise<number> } {
  let running = true
  let worst = 0
  const loop = (async () => {
    while (running) {
      const started = performance.now()
      await fetch(`${base}/health/live`).then((r) => r.arrayBuffer())
      worst = Math.max(worst, performance.now() - started)
      await new Promise((r) => setTimeout(r, 2))
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return worst
    },
  }
}

/** A JSON number literal of 20 characters that parses to a finite float32 (the longest a client would send). */
const LONG = ['-0.12345678901234567', '0.987654321098765432', '-0.55555555555555555']

/** `{"inputs": [...]}` of `n` samples, each `sample(i)`, padded with spaces after the last brace to `size` bytes. */
function inputsBody(n: number, sample: (i: number) => string, size?: number): Buffer {
  const parts = ['{"inputs":[']
  for (let i = 0; i < n; i++) parts.push(i === 0 ? sample(i) : `,${sample(i)}`)
  parts.push(']}')
  const text = parts.join('')
  if (size === undefined || text.length >= size) return Buffer.from(text)
  return Buffer.concat([Buffer.from(text), Buffer.alloc(size - text.length, 0x20)])
}

const digitsSample = (i: number) => `[${Array.from({ length: 64 }, (_, j) => LONG[(i + j) % 3]).join(',')}]`
// The fashion model's [1, 28, 28]: as many numbers as fit in the predict limit at 4,096 samples
// ("0.25," is 5 bytes, and each row and sample adds brackets: 15.5 MiB in all).
const fashionSample = (i: number) =>
  `[[${Array.from({ length: 28 }, (_, r) => `[${Array.from({ length: 28 }, (_, c) => ((i + r + c) % 4 === 0 ? '0.75' : '0.25')).join(',')}]`).join(',')}]]`

interface Case {
  what: string
  path: string
  body: () => Buffer
  /** The answer this case must get. */
  expect: number
}

const cases: Case[] = [
  {
    what: 'digits predict: 4,096 samples × 64 numbers of 20 characters, padded to the 16 MiB limit',
    path: '/v1/models/digits-finetuned/predict',
    body: () => inputsBody(MAX_SAMPLES, digitsSample, PREDICT_LIMIT - 1024),
    expect: 200,
  },
  {
    what: 'fashion predict: 4,096 samples × 784 numbers of 4 characters',
    path: '/v1/models/fashion-finetuned/predict',
    body: () => inputsBody(MAX_SAMPLES, fashionSample),
    expect: 200,
  },
  {
    what: 'refused: 16 MB nested 8e6 deep',
    path: '/v1/models/digits-finetuned/predict',
    body: () => Buffer.concat([Buffer.alloc(8_000_000, '['), Buffer.alloc(8_000_000, ']')]),
    expect: 400,
  },
  {
    what: 'refused: 4e6 one-number samples, 16 MB',
    path: '/v1/models/digits-finetuned/predict',
    body: () => inputsBody(4_000_000, () => '[0]'),
    expect: 413,
  },
  {
    what: 'fit JSON at the 64 MiB limit (digits, 20-character numbers; answered 202, a job)',
    path: '/v1/models/digits-finetuned/calibration/fit',
    body: () => {
      // As many samples as fit under the limit with their labels.
      const perSample = digitsSample(0).length + 1 + 2
      const n = Math.floor((FIT_JSON_LIMIT - 1024) / perSample)
      const inputs = Array.from({ length: n }, (_, i) => digitsSample(i)).join(',')
      const labels = Array.from({ length: n }, (_, i) => String(i % 10)).join(',')
      return Buffer.from(`{"inputs":[${inputs}],"labels":[${labels}],"dry_run":true}`)
    },
    expect: 202,
  },
]

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'calserve-worst-'))
  const port = await freePort()
  const server = await startServer({
    name: 'json-worst-case',
    script: join(ROOT, 'src/main.ts'),
    port,
    readyPath: '/health/ready',
    logDir: join(ROOT, 'bench/tmp/logs'),
    env: {
      CALSERVE_HOST: '127.0.0.1',
      CALSERVE_PORT: String(port),
      CALSERVE_GRPC_PORT: '0',
      CALSERVE_SHUTDOWN_DELAY_MS: '0',
      CALSERVE_MODEL_REPOSITORY: join(ROOT, 'models'),
      CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`,
      CALSERVE_LOG_LEVEL: 'warn',
    },
  })
  const rows: Array<{ what: string; bytes: number; status: Set<number>; ms: number[]; health: number[]; job: number[]; rss: number }> = []
  try {
    for (const c of cases) {
      const body = c.body()
      const row = { what: c.what, bytes: body.length, status: new Set<number>(), ms: [] as number[], health: [] as number[], job: [] as number[], rss: 0 }
      for (let r = 0; r < REPEAT; r++) {
        // Let the previous request's load pass: a loop held for a second makes the shedder answer
        // 503 to whatever comes right after (that is the point of it, not what is measured here).
        await new Promise((res) => setTimeout(res, 2000))
        const p = probe(server.baseUrl)
        await new Promise((res) => setTimeout(res, 50))
        const answer = await post(server.baseUrl, c.path, body)
        row.health.push(await p.stop())
        row.status.add(answer.status)
        row.ms.push(answer.ms)
        if (answer.status !== c.expect) console.error(`${c.what}: expected ${c.expect}, got ${answer.status}: ${answer.body}`)
        if (answer.status === 202) {
          // The job runs the set through the model and fits; time it to its end.
          const location = (JSON.parse(answer.body) as { location: string }).location
          const started = performance.now()
          for (;;) {
            const job = (await (await fetch(`${server.baseUrl}${location}`)).json()) as { state: string; error?: unknown }
            if (job.state === 'succeeded') break
            if (job.state === 'failed') throw new Error(`${c.what}: the job failed: ${JSON.stringify(job.error)}`)
            await new Promise((res) => setTimeout(res, 50))
          }
          row.job.push(performance.now() - started)
        }
        row.rss = Math.max(row.rss, (await rssOf(server.pid)) ?? 0)
      }
      rows.push(row)
      console.error(`done: ${c.what}`)
    }
  } finally {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const range = (xs: number[]) => (xs.length === 0 ? '' : `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`)
  console.log(`${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown'}; ${REPEAT} repeats; min–max`)
  console.log('| request | body | answer | request ms | slowest /health/live ms | job ms | server RSS after |')
  console.log('|---|---:|---|---:|---:|---:|---:|')
  for (const r of rows)
    console.log(
      `| ${r.what} | ${(r.bytes / MiB).toFixed(1)} MiB | ${[...r.status].join(', ')} | ${range(r.ms)} | ${range(r.health)} | ${range(r.job)} | ${(r.rss / MiB).toFixed(0)} MiB |`,
    )
}

await main()
