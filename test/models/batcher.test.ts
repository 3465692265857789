// The batcher on its own: order, splitting, greedy batching, the queue bound and failures. Samples
// are several numbers wide and so are the outputs, so a row taken at the wrong offset (samples
// counted as numbers, or input width used for output rows) gives wrong numbers rather than
// passing unseen as it does at width 1; the last test runs the digits demo model (64 inputs, 10
// logits) in onnxruntime.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Batcher, type BatchRunner } from '../../src/models/batcher.js'
import { readManifest } from '../../src/models/manifest.js'
import { OnnxRunner } from '../../src/models/runner.js'
import { DEMO_MODELS } from '../helper.js'

const SAMPLE = 5
const WIDTH = 3

/** The fake model's output row for one sample: each column a different function of the whole row. */
function rowOut(x: ArrayLike<number>): number[] {
  let sum = 0
  for (let i = 0; i < x.length; i++) sum += x[i]!
  return [sum, x[0]! - x[x.length - 1]!, x[1]! * 2]
}

/** `n` samples whose numbers say which request (`tag`) and row they belong to. */
const samples = (tag: number, n: number) => Float32Array.from({ length: n * SAMPLE }, (_, i) => tag * 100 + Math.floor(i / SAMPLE) * 10 + (i % SAMPLE))

/** What each sample alone would give: the rows a request must get back, in its order. */
const alone = (data: Float32Array) => Array.from({ length: data.length / SAMPLE }, (_, r) => rowOut(data.subarray(r * SAMPLE, (r + 1) * SAMPLE))).flat()

// A fake model (its output is rowOut of each row) that reports each batch it saw: the batcher, not
// the model, is under test here.
function recorder(delayMs = 5) {
  const batches: number[] = []
  let release: (() => void) | undefined
  const runner: BatchRunner = {
    sampleSize: SAMPLE,
    outputWidth: WIDTH,
    async run(data, n) {
      batches.push(n)
      if (data.length !== n * SAMPLE) throw new Error(`a batch of ${n} samples came with ${data.length} numbers`)
      await new Promise<void>((r) => {
        release = r
        setTimeout(r, delayMs)
      })
      return Float32Array.from(alone(data))
    },
  }
  return { runner, batches, release: () => release?.() }
}

const opts = { maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 64, concurrency: 1 }

t.test('concurrent requests run together and each gets its own rows in order', async (t) => {
  const r = recorder()
  const b = new Batcher(r.runner, opts)
  const first = samples(1, 1)
  const pending = b.submit(first, 1) // runs alone: the runner is idle
  const rest = [2, 3, 4, 5].map((tag) => samples(tag, 2))
  const outs = rest.map((data) => b.submit(data, 2))
  t.same(Array.from(await pending), alone(first))
  const got = await Promise.all(outs)
  got.forEach((o, i) => t.same(Array.from(o), alone(rest[i]!), `request ${i + 2}: its own ${o.length / WIDTH} rows`))
  t.same(r.batches, [1, 8], 'the four requests queued behind the first ran as one batch of 8')
})

t.test('a request larger than max_batch_size is split and reassembled', async (t) => {
  const r = recorder()
  const b = new Batcher(r.runner, opts)
  const data = samples(1, 20)
  t.same(Array.from(await b.submit(data, 20)), alone(data))
  t.same(r.batches, [8, 8, 4])
})

t.test('requests of mixed sizes, split across batches, each get exactly their rows', async (t) => {
  const r = recorder()
  const b = new Batcher(r.runner, opts)
  const sizes = [1, 3, 5, 11, 2, 8, 1, 17, 4]
  const data = sizes.map((n, tag) => samples(tag, n))
  const outs = await Promise.all(sizes.map((n, i) => b.submit(data[i]!, n)))
  outs.forEach((o, i) => t.same(Array.from(o), alone(data[i]!), `request ${i} of ${sizes[i]} samples`))
  t.equal(
    r.batches.reduce((a, n) => a + n, 0),
    sizes.reduce((a, n) => a + n, 0),
    'every sample ran once',
  )
  t.ok(
    r.batches.every((n) => n <= opts.maxBatchSize),
    `no batch past max_batch_size: ${r.batches.join(', ')}`,
  )
})

t.test('max_queue_delay_ms waits for a fuller batch', async (t) => {
  const r = recorder(1)
  const b = new Batcher(r.runner, { ...opts, maxQueueDelayMs: 30 })
  const a = b.submit(samples(1, 1), 1)
  await new Promise((res) => setTimeout(res, 5))
  const c = b.submit(samples(2, 1), 1)
  const [oa, oc] = await Promise.all([a, c])
  t.same(r.batches, [2], 'two requests 5 ms apart ran together')
  t.same(Array.from(oa), alone(samples(1, 1)))
  t.same(Array.from(oc), alone(samples(2, 1)))
})

t.test('a full queue refuses at once with CALSERVE_OVERLOADED', async (t) => {
  const r = recorder(20)
  const b = new Batcher(r.runner, { ...opts, maxQueueSize: 4 })
  const running = b.submit(samples(1, 1), 1)
  const queued = [b.submit(samples(2, 3), 3)]
  await t.rejects(b.submit(samples(3, 2), 2), { code: 'CALSERVE_OVERLOADED', statusCode: 503 })
  queued.push(b.submit(samples(4, 1), 1))
  await Promise.all([running, ...queued])
  t.same(r.batches, [1, 4])
})

t.test('a failed run fails exactly the requests in it; the next batch still runs', async (t) => {
  let calls = 0
  const b = new Batcher(
    {
      sampleSize: SAMPLE,
      outputWidth: WIDTH,
      async run(data) {
        calls++
        if (calls === 1) throw new Error('boom')
        return Float32Array.from(alone(data))
      },
    },
    opts,
  )
  await t.rejects(b.submit(samples(1, 1), 1), /boom/)
  t.same(Array.from(await b.submit(samples(7, 2), 2)), alone(samples(7, 2)))
})

t.test('close drains what was accepted and refuses new work', async (t) => {
  const r = recorder(10)
  const b = new Batcher(r.runner, opts)
  const pending = b.submit(samples(3, 2), 2)
  const closed = b.close()
  await t.rejects(b.submit(samples(1, 1), 1), { code: 'CALSERVE_MODEL_NOT_READY' })
  t.same(Array.from(await pending), alone(samples(3, 2)))
  await closed
})

t.test('onnxruntime on the digits model (64 inputs, 10 logits): each request gets the rows its samples give alone', async (t) => {
  const dir = join(DEMO_MODELS, 'digits-finetuned')
  const manifest = await readManifest(join(dir, 'model.json'))
  const { runner } = await OnnxRunner.load(join(dir, '1', 'model.onnx'), ['cpu'], { input: manifest.input, output: manifest.output }, manifest.session)
  t.teardown(() => runner.close())
  t.equal(runner.sampleSize, 64)
  t.equal(runner.outputWidth, 10)
  const lines = readFileSync(join(DEMO_MODELS, '../examples/digits/data/test.ndjson'), 'utf8').split('\n').filter(Boolean)
  const sizes = [1, 7, 16, 3, 40, 2, 9, 1, 13]
  const total = sizes.reduce((a, n) => a + n, 0)
  const digits = lines.slice(0, total).map((l) => Float32Array.from((JSON.parse(l) as { input: number[] }).input))
  // Each sample run alone, as the reference.
  const reference: number[][] = []
  for (const x of digits) reference.push(Array.from(await runner.run(x, 1)))
  const batches: number[] = []
  const recording: BatchRunner = {
    sampleSize: runner.sampleSize,
    outputWidth: runner.outputWidth,
    run: (data, n) => {
      batches.push(n)
      return runner.run(data, n)
    },
  }
  const b = new Batcher(recording, { maxBatchSize: 16, maxQueueDelayMs: 0, maxQueueSize: 1024, concurrency: 1 })
  let start = 0
  const requests = sizes.map((n) => {
    const rows = digits.slice(start, start + n)
    const want = reference.slice(start, start + n)
    start += n
    const data = new Float32Array(n * 64)
    rows.forEach((x, i) => data.set(x, i * 64))
    return { n, want, out: b.submit(data, n) }
  })
  for (const [i, r] of requests.entries()) {
    const out = await r.out
    t.equal(out.length, r.n * 10, `request ${i}: ${r.n} rows of 10`)
    // Batched and single runs may differ in the last bits (other kernels); a wrong row differs by far more.
    let worst = 0
    r.want.forEach((row, k) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(out[k * 10 + j]! - v)))))
    t.ok(worst < 1e-4, `request ${i} of ${r.n} samples: its own rows (largest difference ${worst})`)
  }
  t.equal(
    batches.reduce((a, n) => a + n, 0),
    total,
    'every sample ran once',
  )
  t.ok(
    batches.some((n) => n > 1 && !sizes.includes(n)),
    `some batch joined several requests: ${batches.join(', ')}`,
  )
})
