import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'
import { addBias } from '../../src/calibration/index.js'
import { ExportError, exportCalibratedOnnx } from '../../src/export/onnx.js'

const { onnx } = onnxProto
const root = join(import.meta.dirname, '..', '..')
const TINY = readFileSync(join(root, 'test/fixtures/models/tiny/1/model.onnx'))
const DIGITS = readFileSync(join(root, 'models/digits-finetuned/1/model.onnx'))

async function run(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<{ names: readonly string[]; out: Float32Array }> {
  const s = await ort.InferenceSession.create(bytes)
  const feeds = { [s.inputNames[0]!]: new ort.Tensor('float32', input, dims) }
  const r = await s.run(feeds)
  const out = r[s.outputNames[0]!]!.data as Float32Array
  await s.release()
  return { names: s.outputNames, out }
}

/** The expected calibrated logits: z + fround(γ) in float32, then / fround(T) in float32. */
function expected(z: Float32Array, absent: Uint8Array, gamma: number, temperature: number): Float32Array {
  const c = absent.length
  return z.map((v, i) => {
    const w = Math.fround(v + (absent[i % c] ? Math.fround(gamma) : 0))
    return temperature === 1 ? w : Math.fround(w / Math.fround(temperature))
  })
}

const bits = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)]

const meta = { model: 'tiny', model_version: '2', calibration_version: '7', gamma: '', temperature: '', S: 'cat,dog', U: 'bird,fish' }

t.test('tiny: the export equals the raw logits plus the bias, bit for bit, with T = 1 and T ≠ 1', async (t) => {
  const absent = Uint8Array.from([0, 0, 1, 1])
  // Inputs with many decimals so the sums round; γ not a float32 value.
  const x = Float32Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i * 1.7) * 3.3)
  const raw = (await run(TINY, x, [5, 3])).out
  for (const [gamma, temperature] of [
    [0.7310585786300049, 1],
    [-2.123456789, 1.37],
    [1e-7, 0.33],
  ] as const) {
    const bytes = exportCalibratedOnnx(TINY, {
      outputName: 'logits',
      absent,
      gamma,
      temperature,
      metadata: { ...meta, gamma: String(gamma), temperature: String(temperature) },
    })
    const { names, out } = await run(bytes, x, [5, 3])
    t.same(names, ['logits'], 'the output keeps its name')
    t.same(bits(out), bits(expected(raw, absent, gamma, temperature)), `γ=${gamma} T=${temperature}: bit for bit`)
    if (temperature === 1) {
      // calserve's calibrated logits (addBias, what v2 returns) are the same bits.
      const mine = raw.slice()
      addBias(mine, 4, absent, gamma)
      t.same(bits(out), bits(mine), 'equals addBias')
    }
    const m = onnx.ModelProto.decode(bytes)
    const ops = (m.graph?.node ?? []).map((n) => n.opType)
    t.same(ops.slice(-(temperature === 1 ? 1 : 2)), temperature === 1 ? ['Add'] : ['Add', 'Div'])
    const props = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]))
    t.same(props, { ...meta, gamma: String(gamma), temperature: String(temperature) })
  }
})

t.test('digits: the export matches on real model outputs, and re-exporting replaces metadata', async (t) => {
  const absent = Uint8Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
  const s = await ort.InferenceSession.create(DIGITS)
  const name = s.inputNames[0]!
  const outName = s.outputNames[0]!
  await s.release()
  const x = Float32Array.from({ length: 7 * 64 }, (_, i) => (i * 37) % 17)
  const raw = (await run(DIGITS, x, [7, 64])).out
  const bytes = exportCalibratedOnnx(DIGITS, { outputName: outName, absent, gamma: 3.3, temperature: 2.5, metadata: { gamma: '3.3' } })
  const { names, out } = await run(bytes, x, [7, 64])
  t.same(names, [outName])
  t.same(bits(out), bits(expected(raw, absent, 3.3, 2.5)))
  t.ok(name.length > 0)
  const again = onnx.ModelProto.decode(exportCalibratedOnnx(bytes, { outputName: outName, absent, gamma: 0, temperature: 1, metadata: { gamma: '0' } }))
  t.same(
    again.metadataProps.filter((p) => p.key === 'gamma').map((p) => p.value),
    ['0'],
    'one entry per key',
  )
})

t.test('BAD CALL - export errors', async (t) => {
  const absent = Uint8Array.from([0, 0, 1, 1])
  const base = { outputName: 'logits', absent, gamma: 1, temperature: 1, metadata: {} }
  t.throws(() => exportCalibratedOnnx(Uint8Array.from([255, 255, 255]), base), ExportError)
  t.throws(() => exportCalibratedOnnx(TINY, { ...base, outputName: 'nope' }), { name: 'ExportError', message: /no output 'nope'/ })
  t.throws(() => exportCalibratedOnnx(TINY, { ...base, absent: Uint8Array.from([0, 1]) }), { name: 'ExportError', message: /4 columns, the absent mask 2/ })
  t.throws(() => exportCalibratedOnnx(TINY, { ...base, temperature: 0 }), RangeError)
  t.throws(() => exportCalibratedOnnx(TINY, { ...base, gamma: Infinity }), RangeError)
})

t.test('−0 logits keep their sign where nothing is added (S columns, and every column when γ = 0)', async (t) => {
  // z → Identity → logits, so the raw logits are the input itself.
  const vi = (name: string) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4 }] } } } })
  const graph = onnx.GraphProto.create({
    name: 'identity',
    input: [vi('z')],
    output: [vi('logits')],
    node: [onnx.NodeProto.create({ opType: 'Identity', input: ['z'], output: ['logits'] })],
  })
  const model = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })).finish()
  const absent = Uint8Array.from([0, 0, 1, 1])
  const z = Float32Array.from([-0, 0, -0, 0, -0, 1.5, -0, -2])
  for (const gamma of [0, 0.25, -0]) {
    const { out } = await run(exportCalibratedOnnx(model, { outputName: 'logits', absent, gamma, temperature: 1, metadata: {} }), z, [2, 4])
    const mine = z.slice()
    addBias(mine, 4, absent, gamma)
    t.same(bits(out), bits(mine), `γ = ${Object.is(gamma, -0) ? '-0' : gamma}: addBias's bits, −0 included`)
  }
})
