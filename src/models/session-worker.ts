// Runs one model version's onnxruntime session in a worker thread. onnxruntime-node's run() holds
// the calling thread for the whole inference, so on the main thread a compute-bound model would
// stop all HTTP work while it computes; here the event loop keeps parsing the next requests.
import { parentPort, workerData } from 'node:worker_threads'
import { OnnxRunner, type SessionSettings, type TensorIO } from './runner.js'
import type { ExecutionProvider } from './manifest.js'

export interface WorkerInit {
  file: string
  providers: ExecutionProvider[]
  declared: Partial<TensorIO>
  settings: SessionSettings
}

export type WorkerRequest = { id: number; data: Float32Array; n: number } | { id: number; close: true }
export type WorkerReply =
  | { id: 0; loaded: { io: TensorIO; outputWidth: number; provider: ExecutionProvider; fallback: string | null } }
  | { id: 0; loadError: { message: string; known: boolean } }
  | { id: number; logits: Float32Array }
  | { id: number; error: string }
  | { id: number; closed: true }

const port = parentPort!
const init = workerData as WorkerInit

try {
  const { runner, provider, fallback } = await OnnxRunner.load(init.file, init.providers, init.declared, init.settings)
  port.postMessage({ id: 0, loaded: { io: runner.io, outputWidth: runner.outputWidth, provider, fallback } } satisfies WorkerReply)
  port.on('message', (msg: WorkerRequest) => {
    if ('close' in msg) {
      void runner.close().finally(() => {
        port.postMessage({ id: msg.id, closed: true } satisfies WorkerReply)
        port.close()
      })
      return
    }
    runner
      .run(msg.data, msg.n)
      .then((logits) => {
        // The output tensor's memory belongs to onnxruntime and can't be transferred: copy it
        // (N×C floats, small beside the inference) into a buffer the main thread can own.
        const own = logits.slice()
        port.postMessage({ id: msg.id, logits: own } satisfies WorkerReply, [own.buffer])
      })
      .catch((err: unknown) => port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply))
  })
} catch (err) {
  const known = err instanceof Error && err.constructor.name === 'ModelLoadError'
  port.postMessage({ id: 0, loadError: { message: err instanceof Error ? err.message : String(err), known } } satisfies WorkerReply)
  port.close()
}
