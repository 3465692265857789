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
import { startCalserve, rssOf } from './lib/child.js'

const ROOT = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({ options: { repeat: { type: 'string', default: '5' } } })
const REPEAT = Number(args.repeat)
const MiB = 1024 * 1024
// The defaults of src/config.ts, which the server below runs with.
const PREDICT_LIMIT = 16 * MiB
const PREDICT_JSON_LIMIT = 4 * MiB
const FIT_JSON_LIMIT = 4 * MiB
const MAX_SAMPLES = 4096
const MAX_JSON_NUMBERS = 262_144

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

/** `{"inputs": [...]}` of `n` samples, each `sample(i)`, padded with spaces after the last brace to `size` bytes. */
function inputsBody(n: number, sample: (i: number) => string, size?: number): Buffer {
  const parts = ['{"inputs":[']
  for (let i = 0; i < n; i++) parts.push(i === 0 ? sample(i) : `,${sample(i)}`)
  parts.push(']}')
  const text = parts.join('')
  if (size === undefined || text.length >= size) return Buffer.from(text)
  return Buffer.concat([Buffer.from(text), Buffer.alloc(size - text.length, 0x20)])
}

/** Three JSON number literals of `length` characters that parse to finite float32s. */
const literals = (length: number) => ['-0.', '0.9', '-0.5'].map((head, k) => head + String(k + 1).repeat(length - head.length))

/** The longest number literals (the costliest to parse) with which `body(literals)` still fits in `limit`. */
function longestThatFits(limit: number, body: (numbers: string[]) => Buffer): Buffer {
  let fits: Buffer | undefined
  for (let length = 4; length <= 24; length++) {
    const b = body(literals(length))
    if (b.length > limit) break
    fits = b
  }
  if (!fits) throw new Error(`nothing fits in ${limit} bytes`)
  return fits
}

const digitsSample = (numbers: string[]) => (i: number) => `[${Array.from({ length: 64 }, (_, j) => numbers[(i + j) % 3]).join(',')}]`
// The fashion model's [1, 28, 28], nested as a client would send it.
const fashionSample = (numbers: string[]) => (i: number) =>
  `[[${Array.from({ length: 28 }, (_, r) => `[${Array.from({ length: 28 }, (_, c) => numbers[(i + r + c) % 3]).join(',')}]`).join(',')}]]`
/** The most fashion samples the number budget takes in one JSON request: 334. */
const FASHION_JSON_SAMPLES = Math.floor(MAX_JSON_NUMBERS / 784)

interface Case {
  what: string
  path: string
  /** application/json unless said. */
  type?: string
  body: () => Buffer
  /** The answer this case must get. */
  expect: number
}

const cases: Case[] = [
  {
    what: 'digits predict, JSON: 4,096 samples × 64 numbers (262,144, the number budget) as long as fit, padded to the 4 MiB JSON limit',
    path: '/v1/models/digits-finetuned/predict',
    body: () => longestThatFits(PREDICT_JSON_LIMIT, (numbers) => inputsBody(MAX_SAMPLES, digitsSample(numbers), PREDICT_JSON_LIMIT)),
    expect: 200,
  },
  {
    what: `fashion predict, JSON: ${FASHION_JSON_SAMPLES} samples × 784 numbers (the number budget) as long as fit, padded to the 4 MiB JSON limit`,
    path: '/v1/models/fashion-finetuned/predict',
    body: () => longestThatFits(PREDICT_JSON_LIMIT, (numbers) => inputsBody(FASHION_JSON_SAMPLES, fashionSample(numbers), PREDICT_JSON_LIMIT)),
    expect: 200,
  },
  {
    what: 'digits predict, float32: the same 4,096 samples (what the inference and the answer cost without JSON)',
    path: '/v1/models/digits-finetuned/predict',
    type: 'application/octet-stream',
    body: () => Buffer.from(Float32Array.from({ length: MAX_SAMPLES * 64 }, (_, i) => Number(literals(20)[i % 3])).buffer),
    expect: 200,
  },
  {
    what: 'fashion predict, float32: 4,096 samples × 784 (the largest binary predict the 16 MiB limit and 4,096 samples take)',
    path: '/v1/models/fashion-finetuned/predict',
    type: 'application/octet-stream',
    body: () => Buffer.from(Float32Array.from({ length: MAX_SAMPLES * 784 }, (_, i) => (i % 7) / 7).buffer),
    expect: 200,
  },
  {
    what: 'refused: JSON nested 2e6 deep, within the JSON limit',
    path: '/v1/models/digits-finetuned/predict',
    body: () => Buffer.concat([Buffer.alloc(2_000_000, '['), Buffer.alloc(2_000_000, ']')]),
    expect: 400,
  },
  {
    what: 'refused: 1e6 one-number samples, within the JSON limit',
    path: '/v1/models/digits-finetuned/predict',
    body: () => inputsBody(1_000_000, () => '[0]'),
    expect: 413,
  },
  {
    what: 'refused: JSON at the 16 MiB binary limit (by Content-Length)',
    path: '/v1/models/digits-finetuned/predict',
    body: () => inputsBody(1_000_000, () => '[0]', PREDICT_LIMIT),
    expect: 413,
  },
  {
    what: 'fit, JSON at the 4 MiB limit (digits, numbers as long as fit; dry run)',
    path: '/v1/models/digits-finetuned/calibration/fit',
    body: () => {
      // As many samples of 20-character numbers as fit under the limit with their labels.
      const sample = digitsSample(literals(20))
      const perSample = sample(0).length + 1 + 2
      const n = Math.floor((FIT_JSON_LIMIT - 1024) / perSample)
      const inputs = Array.from({ length: n }, (_, i) => sample(i)).join(',')
      const labels = Array.from({ length: n }, (_, i) => String(i % 10)).join(',')
      const text = `{"inputs":[${inputs}],"labels":[${labels}],"dry_run":true}`
      return Buffer.concat([Buffer.from(text), Buffer.alloc(FIT_JSON_LIMIT - text.length, 0x20)])
    },
    expect: 200,
  },
]

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'calserve-worst-'))
  const server = await startCalserve({
    name: 'json-worst-case',
    root: ROOT,
    logDir: join(ROOT, 'bench/tmp/logs'),
    env: {
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
        const answer = await post(server.baseUrl, c.path, body, c.type)
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
