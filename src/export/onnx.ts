// Export a served ONNX model with its active calibration baked in: the logits output becomes
//   (z + b) / T,   b_j = γ for absent classes (U), −0 for fine-tuning classes (S),
// as one Add of a constant float32 vector and, when T ≠ 1, one Div by a float32 scalar. The graph's
// output keeps its name (the original producer's edge is renamed internally), so a client of the
// exported model reads the same output as before, now calibrated. Float32 throughout, so the Add
// gives exactly calserve's calibrated logits (addBias: z + fround(γ) in float32) in any runtime.
// Pure: bytes in, bytes out; the ONNX protobuf is read and written by onnx-proto (protobufjs).
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

export interface ExportParams {
  /** The graph output carrying the logits (the one calserve reads). */
  outputName: string
  /** 1 for absent classes (U), 0 for fine-tuning classes (S), one entry per logit column. */
  absent: Uint8Array
  gamma: number
  /** > 0; no Div is added when it is exactly 1. */
  temperature: number
  /**
   * Written into the model's metadata_props (replacing entries with the same key): the caller
   * records model, model version, calibration version, γ, T, S and U here.
   */
  metadata: Record<string, string>
}

/** Thrown on a model the export cannot rewrite (bad bytes, no such output, shape mismatch). */
export class ExportError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ExportError'
  }
}

export function exportCalibratedOnnx(onnxBytes: Uint8Array, params: ExportParams): Uint8Array {
  const { outputName, absent, gamma, temperature } = params
  if (!Number.isFinite(gamma)) throw new RangeError(`gamma must be finite, got ${gamma}`)
  if (!Number.isFinite(temperature) || !(temperature > 0)) throw new RangeError(`temperature must be finite and > 0, got ${temperature}`)
  let model: onnxProto.onnx.ModelProto
  try {
    model = onnx.ModelProto.decode(onnxBytes)
  } catch (err) {
    throw new ExportError(`not an ONNX model: ${(err as Error).message}`)
  }
  const graph = model.graph
  if (!graph) throw new ExportError('the ONNX model has no graph')
  // Decoded messages carry every repeated field; the typings mark them optional.
  const nodes = (graph.node ??= [])
  const initializers = (graph.initializer ??= [])
  const outputs = graph.output ?? []
  const inputs = graph.input ?? []
  // Add and Div broadcast numpy-style from opset 7 on; older graphs would need axis attributes.
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')
  if (opset && Number(opset.version) < 7) throw new ExportError(`opset ${String(opset.version)} is older than 7 (no broadcasting Add)`)
  const output = outputs.find((o) => o.name === outputName)
  if (!output) throw new ExportError(`the graph has no output '${outputName}'`)
  const tensor = output.type?.tensorType
  if (tensor && tensor.elemType !== onnx.TensorProto.DataType.FLOAT) {
    throw new ExportError(`output '${outputName}' is not float32 (element type ${tensor.elemType})`)
  }
  const dims = tensor?.shape?.dim ?? []
  const last = dims.length > 0 ? dims[dims.length - 1] : undefined
  if (last?.dimValue !== undefined && last.dimValue !== null && Number(last.dimValue) !== 0 && Number(last.dimValue) !== absent.length) {
    throw new ExportError(`output '${outputName}' has ${String(last.dimValue)} columns, the absent mask ${absent.length}`)
  }
  const producers = nodes.filter((n) => (n.output ?? []).includes(outputName))
  if (producers.length !== 1) {
    // A graph input or initializer passed straight through has no edge to rename.
    throw new ExportError(`output '${outputName}' is not produced by a node of the graph`)
  }

  const taken = new Set<string>()
  for (const n of nodes) for (const x of [...(n.input ?? []), ...(n.output ?? [])]) taken.add(x)
  for (const x of [...inputs, ...initializers]) if (x.name) taken.add(x.name)
  const fresh = (base: string) => {
    let name = `calserve/${base}`
    for (let k = 1; taken.has(name); k++) name = `calserve/${base}_${k}`
    taken.add(name)
    return name
  }

  // The original logits now flow into the calibration under an internal name.
  const raw = fresh('uncalibrated_logits')
  const producer = producers[0]!
  producer.output = (producer.output ?? []).map((x) => (x === outputName ? raw : x))
  for (const n of nodes) if (n !== producer) n.input = (n.input ?? []).map((x) => (x === outputName ? raw : x))

  // −0 where nothing is added: x + (−0) is x for every float32 x, −0 included, whereas x + 0 turns
  // −0 into +0; so the S columns (and every column when γ = 0) come out as the raw bits, as
  // addBias leaves them.
  const bias = new Float32Array(absent.length)
  for (let j = 0; j < absent.length; j++) bias[j] = absent[j] && gamma !== 0 ? gamma : -0
  const biasName = fresh('gamma_bias')
  initializers.push(floatTensor(biasName, [absent.length], bias))
  const divide = temperature !== 1
  const biased = divide ? fresh('biased_logits') : outputName
  nodes.push(onnx.NodeProto.create({ opType: 'Add', name: fresh('add_gamma'), input: [raw, biasName], output: [biased] }))
  if (divide) {
    const tName = fresh('temperature')
    initializers.push(floatTensor(tName, [], Float32Array.of(temperature)))
    nodes.push(onnx.NodeProto.create({ opType: 'Div', name: fresh('divide_temperature'), input: [biased, tName], output: [outputName] }))
  }

  const props = model.metadataProps.filter((p) => !(p.key && p.key in params.metadata))
  for (const [key, value] of Object.entries(params.metadata)) props.push(onnx.StringStringEntryProto.create({ key, value }))
  model.metadataProps = props
  return onnx.ModelProto.encode(model).finish()
}

function floatTensor(name: string, dims: number[], values: Float32Array): onnxProto.onnx.TensorProto {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    // raw_data is little-endian by the ONNX spec; copy so the buffer holds exactly these bytes.
    rawData: new Uint8Array(littleEndian(values)),
  })
}

function littleEndian(values: Float32Array): ArrayBuffer {
  const buf = new ArrayBuffer(values.length * 4)
  const v = new DataView(buf)
  for (let i = 0; i < values.length; i++) v.setFloat32(i * 4, values[i]!, true)
  return buf
}
