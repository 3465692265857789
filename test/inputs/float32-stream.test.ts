// The binary fit reader reassembles samples across any chunking of the stream.
import { Readable } from 'node:stream'
import t from 'tap'
import { readFloat32Stream } from '../../src/inputs/float32-stream.js'
import type { LogitCollector } from '../../src/serving/collector.js'

// Records what the reader commits; the collector's own batching is tested through the routes.
function recorder(sampleSize: number) {
  const samples: number[][] = []
  const labels: number[] = []
  let slot = new Float32Array(sampleSize)
  const collector = {
    sampleSize,
    slot: () => slot,
    commit: async (label: number) => {
      samples.push(Array.from(slot))
      labels.push(label)
      slot = new Float32Array(sampleSize)
    },
  } as unknown as LogitCollector
  return { collector, samples, labels }
}

const values = Array.from({ length: 5 * 3 }, (_, i) => i * 0.5 - 3.25)
const bytes = Buffer.from(new Float32Array(values).buffer)

t.test('any chunking gives the same samples', async (t) => {
  for (const size of [1, 3, 5, 12, 13, 60, 1000]) {
    const chunks: Buffer[] = []
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
    const r = recorder(3)
    await readFloat32Stream(Readable.from(chunks), r.collector, [0, 1, 2, 3, 4], 1 << 20)
    t.same(
      r.samples,
      [0, 1, 2, 3, 4].map((i) => values.slice(i * 3, i * 3 + 3)),
      `chunks of ${size} bytes`,
    )
    t.same(r.labels, [0, 1, 2, 3, 4])
  }
})

t.test('refusals: partial sample, NaN, more samples than labels, fewer, too large', async (t) => {
  await t.rejects(readFloat32Stream(Readable.from([bytes.subarray(0, 50)]), recorder(3).collector, [0, 1, 2, 3, 4], 1 << 20), /50 bytes, not a whole number/)
  const nan = Buffer.from(new Float32Array([1, 2, 3, 4, Number.NaN, 6]).buffer)
  await t.rejects(readFloat32Stream(Readable.from([nan]), recorder(3).collector, [0, 1], 1 << 20), /sample 1 contains NaN/)
  await t.rejects(readFloat32Stream(Readable.from([bytes]), recorder(3).collector, [0, 1], 1 << 20), /more samples than labels/)
  await t.rejects(readFloat32Stream(Readable.from([bytes]), recorder(3).collector, [0, 1, 2, 3, 4, 5], 1 << 20), /holds 5 samples but labels has 6/)
  await t.rejects(readFloat32Stream(Readable.from([bytes]), recorder(3).collector, [0, 1, 2, 3, 4], 16), { code: 'CALSERVE_PAYLOAD_TOO_LARGE' })
})
