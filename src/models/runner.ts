// One onnxruntime session per model version, created once, warmed up once, reused for every
// request. The execution providers are tried in the manifest's order; the one that worked is
// reported, and a fallback is said out loud rather than happening silently.
import { availableParallelism } from 'node:os'
import * as ort from 'onnxruntime-node'
import type { ExecutionProvider, Manifest } from './manifest.js'

export type SessionSettings = Manifest['session']

export interface TensorIO {
  input: { name: string; shape: number[]; dtype: 'float32' }
  output: { name: string }
}

export interface LoadedSession {
  runner: OnnxRunner
  provider: ExecutionProvider
  /** Why an earlier provider in the list was skipped, when one was. */
  fallback: string | null
}

export class ModelLoadError extends Error {}

export class OnnxRunner {
  /** Numbers per sample: the product of the input shape without the batch dimension. */
  readonly sampleSize: number
  readonly batchShape: number[]

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly io: TensorIO,
    /** Logits per sample, learned from the warm-up run. */
    public outputWidth = 0,
  ) {
    this.sampleSize = io.input.shape.reduce((a, b) => a * b, 1)
    this.batchShape = [0, ...io.input.shape]
  }

  static async load(
    file: string,
    providers: ExecutionProvider[],
    declared: Partial<TensorIO>,
    settings: SessionSettings,
  ): Promise<LoadedSession> {
    const failures: string[] = []
    const spin = settings.allow_spinning ? '1' : '0'
    for (const provider of providers) {
      let session: ort.InferenceSession
      try {
        session = await ort.InferenceSession.create(file, {
          executionProviders: [provider],
          // Spinning threads wait for work by burning a core; on a small machine that core is the
          // one the event loop needs for HTTP, so spinning is off unless the manifest asks for it.
          extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
          graphOptimizationLevel: settings.graph_optimization_level,
          intraOpNumThreads: intraOpThreads(settings),
          ...(settings.inter_op_threads > 0 ? { interOpNumThreads: settings.inter_op_threads, executionMode: 'parallel' as const } : {}),
        })
      } catch (err) {
        failures.push(`${provider}: ${firstLine(err)}`)
        continue
      }
      let runner: OnnxRunner
      try {
        runner = new OnnxRunner(session, resolveIO(session, declared))
        await runner.warmUp()
      } catch (err) {
        // A session that can't serve is released, and the error names the file it came from.
        await session.release().catch(() => {})
        throw err instanceof ModelLoadError ? new ModelLoadError(`${file}: ${err.message}`) : err
      }
      const fallback = failures.length ? `${failures.join('; ')}; using ${provider}` : null
      return { runner, provider, fallback }
    }
    throw new ModelLoadError(`no execution provider could load ${file}: ${failures.join('; ')}`)
  }

  /** Runs `n` samples laid out back to back in `data`; returns the N×C logits. */
  async run(data: Float32Array, n: number): Promise<Float32Array> {
    const shape = this.batchShape.slice()
    shape[0] = n
    const feeds = { [this.io.input.name]: new ort.Tensor('float32', data, shape) }
    const out = await this.session.run(feeds, [this.io.output.name])
    const tensor = out[this.io.output.name]!
    if (tensor.type !== 'float32') throw new ModelLoadError(`output '${this.io.output.name}' is ${tensor.type}, not float32`)
    return tensor.data as Float32Array
  }

  private async warmUp(): Promise<void> {
    const tensorOut = await this.session.run(
      { [this.io.input.name]: new ort.Tensor('float32', new Float32Array(this.sampleSize), [1, ...this.io.input.shape]) },
      [this.io.output.name],
    )
    const t = tensorOut[this.io.output.name]!
    if (t.dims.length !== 2 || t.dims[0] !== 1)
      throw new ModelLoadError(`output '${this.io.output.name}' has shape [${t.dims.join(', ')}] for one sample; expected [1, classes]`)
    if (t.type !== 'float32') throw new ModelLoadError(`output '${this.io.output.name}' is ${t.type}, not float32`)
    this.outputWidth = t.dims[1]!
  }

  async close(): Promise<void> {
    await this.session.release()
  }
}

/** Input and output names and shape: from the manifest when it says, otherwise from the ONNX file. */
function resolveIO(session: ort.InferenceSession, declared: Partial<TensorIO>): TensorIO {
  const inputs = session.inputMetadata
  const outputs = session.outputMetadata
  let input = declared.input
  if (!input) {
    if (inputs.length !== 1)
      throw new ModelLoadError(`the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); name one in model.json "input"`)
    const meta = inputs[0]!
    if (!meta.isTensor || meta.type !== 'float32')
      throw new ModelLoadError(`input '${meta.name}' is not a float32 tensor`)
    const dims = meta.shape.slice(1)
    if (dims.some((d) => typeof d !== 'number' || d <= 0))
      throw new ModelLoadError(`input '${meta.name}' has dynamic dimensions [${meta.shape.join(', ')}] beyond the batch axis; give model.json "input.shape"`)
    input = { name: meta.name, shape: dims as number[], dtype: 'float32' }
  } else if (!inputs.some((i) => i.name === input!.name)) {
    throw new ModelLoadError(`model.json input '${input.name}' is not an input of the model (${inputs.map((i) => i.name).join(', ')})`)
  }
  let output = declared.output
  if (!output) {
    if (outputs.length !== 1)
      throw new ModelLoadError(`the model has ${outputs.length} outputs (${outputs.map((o) => o.name).join(', ')}); name the logits in model.json "output"`)
    output = { name: outputs[0]!.name }
  } else if (!outputs.some((o) => o.name === output!.name)) {
    throw new ModelLoadError(`model.json output '${output.name}' is not an output of the model (${outputs.map((o) => o.name).join(', ')})`)
  }
  return { input, output }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!
}

/**
 * intra_op_threads 0 means one thread per CPU this process may run on, passed to onnxruntime as a
 * number. Left at 0, onnxruntime sizes its pool by the machine's physical cores and pins each pool
 * thread to a core, ignoring the process's affinity (taskset, a container's cpuset): measured here,
 * under `taskset -c 0` a pool thread ran on CPU 1, on the core given to something else. An explicit
 * count makes no affinity calls, and availableParallelism() reads the affinity mask.
 */
export function intraOpThreads(settings: Pick<SessionSettings, 'intra_op_threads'>): number {
  return settings.intra_op_threads > 0 ? settings.intra_op_threads : availableParallelism()
}
