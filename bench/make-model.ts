// Writes an ONNX classifier with seeded random weights into a temporary model repository, so the
// benchmark has models of realistic shapes without downloading anything. The weights are noise:
// only the cost of running the model matters here. Two architectures:
//
//   npx tsx bench/make-model.ts [--arch resnet18|cnn] [--size 112] [--seed 1] [--repo bench/tmp/models] [--name resnet18-bench]
//
// cnn — a small CNN of the digits shape: input `pixels` [N, 1, 8, 8] → conv 3×3 (16) → ReLU →
// conv 3×3/2 (32) → ReLU → Flatten → Gemm to 10 classes (9.9 k parameters). A session.run costs
// tens of µs: the model the issue measured calserve against a naive server on.
//
// resnet18 (default) — conv 7×7/2 (64) → maxpool 3×3/2 → 4 stages × 2 basic blocks (64, 128, 256, 512 channels;
// stages 2–4 start with a stride-2 block whose shortcut is a 1×1/2 projection) → global average
// pool → Gemm to 10 classes. BatchNorm is folded into the conv biases. Opset 13, IR 7; input
// `pixels` float32 [N, 3, size, size] with a dynamic batch axis N; output `logits` [N, 10].
// A model.json (labels c0..c9, fine-tuning classes c0..c4) goes beside it. The ONNX is ~45 MB:
// bench/tmp/ is git-ignored and it must never be committed.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import onnxProto from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { mulberry32 } from '../test/support/random.js'

const { onnx } = onnxProto
type INodeProto = onnxProto.onnx.INodeProto
type ITensorProto = onnxProto.onnx.ITensorProto
type IAttributeProto = onnxProto.onnx.IAttributeProto

export type Arch = 'resnet18' | 'cnn'

export interface MakeModelOptions {
  arch: Arch
  /** ResNet input height and width. 224 is ImageNet's; 112 (default) keeps a 2-core run short. The CNN is always 8×8. */
  size: number
  seed: number
  /** Model repository root; the model goes to <repo>/<name>/1/model.onnx. */
  repo: string
  name: string
  classes: number
  /** Extra keys merged into model.json (e.g. {"batching": {...}}), for servers that accept them. */
  manifestExtra?: Record<string, unknown>
}

export const DEFAULT_MAKE_MODEL: MakeModelOptions = {
  arch: 'resnet18',
  size: 112,
  seed: 1,
  repo: 'bench/tmp/models',
  name: 'resnet18-bench',
  classes: 10,
}

export interface MadeModel {
  dir: string
  onnxFile: string
  manifestFile: string
  params: number
  bytes: number
  inputShape: number[]
  labels: string[]
}

/** Standard normal samples (Box–Muller) from a uniform source. */
function gaussian(rand: () => number): () => number {
  let spare: number | null = null
  return () => {
    if (spare !== null) {
      const s = spare
      spare = null
      return s
    }
    let u = 0
    while (u === 0) u = rand()
    const v = rand()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
}

class GraphBuilder {
  readonly nodes: INodeProto[] = []
  readonly initializers: ITensorProto[] = []
  params = 0
  private counter = 0
  private readonly normal: () => number

  constructor(seed: number) {
    this.normal = gaussian(mulberry32(seed))
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`
  }

  private tensor(name: string, dims: number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (std > 0) for (let i = 0; i < n; i++) data[i] = this.normal() * std
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    })
    this.params += n
    return name
  }

  /** Conv with a (folded-BN) bias; He-normal weights times `gain`. */
  conv(x: string, cin: number, cout: number, k: number, stride: number, gain = 1): string {
    const name = this.fresh('conv')
    const w = this.tensor(`${name}.weight`, [cout, cin, k, k], gain * Math.sqrt(2 / (cin * k * k)))
    const b = this.tensor(`${name}.bias`, [cout], 0)
    const pad = Math.floor(k / 2)
    const y = `${name}.out`
    this.nodes.push({
      name,
      opType: 'Conv',
      input: [x, w, b],
      output: [y],
      attribute: [ints('kernel_shape', [k, k]), ints('strides', [stride, stride]), ints('pads', [pad, pad, pad, pad])],
    })
    return y
  }

  op(opType: string, inputs: string[], attribute: IAttributeProto[] = []): string {
    const name = this.fresh(opType.toLowerCase())
    const y = `${name}.out`
    this.nodes.push({ name, opType, input: inputs, output: [y], attribute })
    return y
  }

  relu(x: string): string {
    return this.op('Relu', [x])
  }

  /** ResNet basic block: conv3×3/s → ReLU → conv3×3 → + shortcut → ReLU. */
  basicBlock(x: string, cin: number, cout: number, stride: number): string {
    let y = this.relu(this.conv(x, cin, cout, 3, stride))
    // The residual branch's last conv is scaled down (as Fixup-style inits do) so the variance
    // doesn't double at every block without BatchNorm: activations stay in a sane range.
    y = this.conv(y, cout, cout, 3, 1, 0.5)
    const shortcut = stride !== 1 || cin !== cout ? this.conv(x, cin, cout, 1, stride) : x
    return this.relu(this.op('Add', [y, shortcut]))
  }

  gemm(x: string, cin: number, cout: number): string {
    const name = this.fresh('fc')
    const w = this.tensor(`${name}.weight`, [cout, cin], Math.sqrt(1 / cin))
    const b = this.tensor(`${name}.bias`, [cout], 0)
    this.nodes.push({ name, opType: 'Gemm', input: [x, w, b], output: ['logits'], attribute: [int('transB', 1)] })
    return 'logits'
  }
}

function ints(name: string, v: number[]): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
}

function int(name: string, v: number): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
}

function valueInfo(name: string, dims: Array<number | string>): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  }
}

/** Builds the ResNet-18-shaped graph and returns the encoded ONNX bytes. */
export function buildResnet18(size: number, classes: number, seed: number): { bytes: Uint8Array; params: number } {
  if (!Number.isInteger(size) || size < 32) throw new RangeError(`--size must be an integer ≥ 32, got ${size}`)
  const g = new GraphBuilder(seed)
  let x = g.relu(g.conv('pixels', 3, 64, 7, 2))
  x = g.op('MaxPool', [x], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])])
  let cin = 64
  for (const [stage, cout] of [64, 128, 256, 512].entries()) {
    x = g.basicBlock(x, cin, cout, stage === 0 ? 1 : 2)
    x = g.basicBlock(x, cout, cout, 1)
    cin = cout
  }
  x = g.op('GlobalAveragePool', [x])
  x = g.op('Flatten', [x], [int('axis', 1)])
  g.gemm(x, cin, classes)
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'calserve-bench',
    producerVersion: '1',
    docString: `ResNet-18-shaped classifier with seeded random weights (seed ${seed}), input ${size}x${size}; for benchmarks only`,
    graph: {
      name: 'resnet18_bench',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('pixels', ['N', 3, size, size])],
      output: [valueInfo('logits', ['N', classes])],
    },
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), params: g.params }
}

/** Builds the small digits-shaped CNN ([N, 1, 8, 8] → 10 logits) and returns the encoded ONNX bytes. */
export function buildCnn(classes: number, seed: number): { bytes: Uint8Array; params: number } {
  const g = new GraphBuilder(seed)
  let x = g.relu(g.conv('pixels', 1, 16, 3, 1))
  x = g.relu(g.conv(x, 16, 32, 3, 2))
  x = g.op('Flatten', [x], [int('axis', 1)])
  g.gemm(x, 32 * 4 * 4, classes)
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'calserve-bench',
    producerVersion: '1',
    docString: `small digits-shaped CNN with seeded random weights (seed ${seed}); for benchmarks only`,
    graph: {
      name: 'cnn_bench',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('pixels', ['N', 1, 8, 8])],
      output: [valueInfo('logits', ['N', classes])],
    },
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), params: g.params }
}

/** Writes <repo>/<name>/1/model.onnx and <repo>/<name>/model.json, then checks onnxruntime runs it. */
export async function makeModel(opts: MakeModelOptions): Promise<MadeModel> {
  const dir = join(opts.repo, opts.name)
  const onnxFile = join(dir, '1', 'model.onnx')
  const manifestFile = join(dir, 'model.json')
  const labels = Array.from({ length: opts.classes }, (_, i) => `c${i}`)
  const cnn = opts.arch === 'cnn'
  const inputShape = cnn ? [1, 8, 8] : [3, opts.size, opts.size]
  const { bytes, params } = cnn ? buildCnn(opts.classes, opts.seed) : buildResnet18(opts.size, opts.classes, opts.seed)
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, '1'), { recursive: true })
  await writeFile(onnxFile, bytes)
  const manifest = {
    labels,
    fine_tuning_classes: labels.slice(0, Math.ceil(opts.classes / 2)),
    input: { name: 'pixels', shape: inputShape, dtype: 'float32' },
    output: { name: 'logits' },
    description: `${cnn ? 'Small digits-shaped CNN' : 'ResNet-18-shaped'} benchmark model, random weights (seed ${opts.seed}), input ${inputShape.join('x')}. Made by bench/make-model.ts; not a real classifier.`,
    ...opts.manifestExtra,
  }
  await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`)
  return { dir, onnxFile, manifestFile, params, bytes: bytes.byteLength, inputShape, labels }
}

/** Loads the file in onnxruntime and runs a batch of 2 random images; throws unless the logits are finite. */
export async function verifyModel(made: MadeModel, seed = 7): Promise<{ logitsSample: number[]; ms: number }> {
  const session = await ort.InferenceSession.create(made.onnxFile)
  try {
    const sampleSize = made.inputShape.reduce((a, b) => a * b, 1)
    const rand = mulberry32(seed)
    const data = Float32Array.from({ length: 2 * sampleSize }, () => rand())
    const t0 = performance.now()
    const out = await session.run({ pixels: new ort.Tensor('float32', data, [2, ...made.inputShape]) })
    const ms = performance.now() - t0
    const logits = out['logits']
    if (!logits || logits.dims.join(',') !== `2,${made.labels.length}`)
      throw new Error(`expected logits [2, ${made.labels.length}], got ${logits ? `[${logits.dims.join(', ')}]` : 'none'}`)
    const values = Array.from(logits.data as Float32Array)
    if (!values.every(Number.isFinite)) throw new Error(`non-finite logits: ${values.join(', ')}`)
    return { logitsSample: values.slice(0, made.labels.length), ms }
  } finally {
    await session.release()
  }
}

function parseFlags(argv: string[]): MakeModelOptions {
  const opts = { ...DEFAULT_MAKE_MODEL }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = argv[i + 1]
    const need = (): string => {
      if (value === undefined) throw new Error(`${flag} needs a value`)
      i++
      return value
    }
    if (flag === '--arch') {
      const arch = need()
      if (arch !== 'resnet18' && arch !== 'cnn') throw new Error(`--arch takes resnet18 or cnn, got ${arch}`)
      opts.arch = arch
    } else if (flag === '--size') opts.size = Number(need())
    else if (flag === '--seed') opts.seed = Number(need())
    else if (flag === '--repo') opts.repo = need()
    else if (flag === '--name') opts.name = need()
    else if (flag === '--manifest-extra') opts.manifestExtra = JSON.parse(need()) as Record<string, unknown>
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: npx tsx bench/make-model.ts [--arch resnet18|cnn] [--size 112] [--seed 1] [--repo bench/tmp/models] [--name resnet18-bench] [--manifest-extra JSON]\n')
      process.exit(0)
    } else throw new Error(`unknown flag ${flag}`)
  }
  return opts
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = parseFlags(process.argv.slice(2))
  const made = await makeModel(opts)
  const check = await verifyModel(made)
  process.stdout.write(
    `wrote ${made.onnxFile} (${(made.bytes / 2 ** 20).toFixed(1)} MiB, ${(made.params / 1e6).toFixed(2)} M parameters, input [N, ${made.inputShape.join(', ')}])\n` +
      `onnxruntime ran a batch of 2 in ${check.ms.toFixed(1)} ms; logits of sample 0: ${check.logitsSample.map((v) => v.toFixed(3)).join(' ')}\n`,
  )
}
