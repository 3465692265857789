// The batcher on its own: order, splitting, greedy batching, the queue bound and failures.
import t from 'tap'
import { Batcher, type RunBatch } from '../../src/models/batcher.js'

// A fake run that doubles each number and reports each batch it saw: the batcher, not the model,
// is under test here (the real model path is covered by the route tests).
function recorder(width = 1, delayMs = 5) {
  const batches: number[] = []
  let release: (() => void) | undefined
  const run: RunBatch = async (data, n) => {
    batches.push(n)
    await new Promise<void>((r) => {
      release = r
      setTimeout(r, delayMs)
    })
    const out = new Float32Array(n * width)
    for (let i = 0; i < n * width; i++) out[i] = data[i % data.length]! * 2
    return out
  }
  return { run, batches, release: () => release?.() }
}

const opts = { maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 64, concurrency: 1 }

t.test('concurrent requests run together and each gets its own rows in order', async (t) => {
  const r = recorder()
  const b = new Batcher(r.run, 1, 1, opts)
  const first = b.submit(Float32Array.of(1), 1) // runs alone: the runner is idle
  const rest = [2, 3, 4, 5].map((v) => b.submit(Float32Array.of(v, v + 10), 2))
  t.same(Array.from(await first), [2])
  const outs = await Promise.all(rest)
  t.same(outs.map((o) => Array.from(o)), [[4, 24], [6, 26], [8, 28], [10, 30]])
  t.same(r.batches, [1, 8], 'the four requests queued behind the first ran as one batch of 8')
})

t.test('a request larger than max_batch_size is split and reassembled', async (t) => {
  const r = recorder()
  const b = new Batcher(r.run, 1, 1, opts)
  const data = Float32Array.from({ length: 20 }, (_, i) => i)
  const out = await b.submit(data, 20)
  t.same(Array.from(out), Array.from(data, (v) => v * 2))
  t.same(r.batches, [8, 8, 4])
})

t.test('max_queue_delay_ms waits for a fuller batch', async (t) => {
  const r = recorder(1, 1)
  const b = new Batcher(r.run, 1, 1, { ...opts, maxQueueDelayMs: 30 })
  const a = b.submit(Float32Array.of(1), 1)
  await new Promise((res) => setTimeout(res, 5))
  const c = b.submit(Float32Array.of(2), 1)
  await Promise.all([a, c])
  t.same(r.batches, [2], 'two requests 5 ms apart ran together')
})

t.test('a full queue refuses at once with CALSERVE_OVERLOADED', async (t) => {
  const r = recorder(1, 20)
  const b = new Batcher(r.run, 1, 1, { ...opts, maxQueueSize: 4 })
  const running = b.submit(Float32Array.of(1), 1)
  const queued = [b.submit(Float32Array.of(1, 1, 1), 3)]
  await t.rejects(b.submit(Float32Array.of(1, 1), 2), { code: 'CALSERVE_OVERLOADED', statusCode: 503 })
  queued.push(b.submit(Float32Array.of(1), 1))
  await Promise.all([running, ...queued])
  t.same(r.batches, [1, 4])
})

t.test('a failed run fails exactly the requests in it; the next batch still runs', async (t) => {
  let calls = 0
  const b = new Batcher(
    async (data, n) => {
      calls++
      if (calls === 1) throw new Error('boom')
      return Float32Array.from(data.subarray(0, n))
    },
    1,
    1,
    opts,
  )
  await t.rejects(b.submit(Float32Array.of(1), 1), /boom/)
  t.same(Array.from(await b.submit(Float32Array.of(7), 1)), [7])
})

t.test('close drains what was accepted and refuses new work', async (t) => {
  const r = recorder(1, 10)
  const b = new Batcher(r.run, 1, 1, opts)
  const pending = b.submit(Float32Array.of(3), 1)
  const closed = b.close()
  await t.rejects(b.submit(Float32Array.of(1), 1), { code: 'CALSERVE_MODEL_NOT_READY' })
  t.same(Array.from(await pending), [6])
  await closed
})
