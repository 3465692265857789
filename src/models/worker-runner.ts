// The main thread's handle on a session that runs in a worker thread (see session-worker.ts).
// Same surface as OnnxRunner: io, sampleSize, outputWidth, run(), close().
import { Worker } from 'node:worker_threads'
import type { BatchRunner } from './batcher.js'
import type { ExecutionProvider } from './manifest.js'
import { ModelLoadError, type SessionSettings, type TensorIO } from './runner.js'
import type { WorkerInit, WorkerReply, WorkerRequest } from './session-worker.js'

// Under tsx (npm start, tests) the sources are .ts and the worker needs tsx's loader too (hooks
// registered in the main thread don't reach workers); compiled (dist/) they are plain .js.
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(`./session-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url)
/** From source: a tiny bootstrap that registers tsx in the worker, then imports the worker module. */
const WORKER_SCRIPT: string | URL = FROM_SOURCE
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
      .then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}) })
      .catch((err) => setImmediate(() => { throw err }))`
  : WORKER_URL

export interface Runner extends BatchRunner {
  readonly io: TensorIO
  close(): Promise<void>
}

interface Pending {
  resolve: (v: Float32Array) => void
  reject: (e: Error) => void
}

export class WorkerRunner implements Runner {
  readonly sampleSize: number
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private dead: Error | null = null
  private closing: Promise<void> | null = null

  private constructor(
    private readonly worker: Worker,
    readonly io: TensorIO,
    readonly outputWidth: number,
  ) {
    this.sampleSize = io.input.shape.reduce((a, b) => a * b, 1)
    worker.on('message', (msg: WorkerReply) => {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if ('logits' in msg) p.resolve(msg.logits)
      else if ('error' in msg) p.reject(new Error(msg.error))
      else p.resolve(new Float32Array(0))
    })
    const fail = (err: Error) => {
      this.dead = err
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => {
      if (!this.closing) fail(new Error(`the inference worker exited (code ${code})`))
    })
  }

  static async load(
    file: string,
    providers: ExecutionProvider[],
    declared: Partial<TensorIO>,
    settings: SessionSettings,
  ): Promise<{ runner: WorkerRunner; provider: ExecutionProvider; fallback: string | null }> {
    const worker = new Worker(WORKER_SCRIPT, {
      eval: FROM_SOURCE,
      // The bootstrap registers tsx itself; an inherited --import of it would register it twice.
      execArgv: [],
      workerData: { file, providers, declared, settings } satisfies WorkerInit,
    })
    const onExit = (code: number) => failLoad(new Error(`the inference worker exited while loading (code ${code})`))
    let failLoad!: (err: Error) => void
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      failLoad = reject
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', onExit)
    }).finally(() => {
      // Only our own listeners: Worker keeps internal ones (they start its message port).
      worker.removeListener('error', failLoad)
      worker.removeListener('exit', onExit)
    })
    if ('loadError' in first) {
      await worker.terminate()
      throw first.loadError.known ? new ModelLoadError(first.loadError.message) : new Error(first.loadError.message)
    }
    if (!('loaded' in first)) throw new Error('unexpected first message from the inference worker')
    const { io, outputWidth, provider, fallback } = first.loaded
    return { runner: new WorkerRunner(worker, io, outputWidth), provider, fallback }
  }

  /**
   * Runs `n` samples on the worker. The batch's memory is handed to the worker: an `owned` batch
   * that fills its buffer as it is, any other copied first (a request's own samples: a view into
   * its body). A 16 × 3×112×112 batch is 2.4 MB, copied otherwise once more per batch.
   */
  run(data: Float32Array, n: number, owned = false): Promise<Float32Array> {
    if (this.dead) return Promise.reject(this.dead)
    const id = this.nextId++
    const length = n * this.sampleSize
    const whole = owned && data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.length === length && data.buffer.byteLength === data.byteLength
    const copy = whole ? data : data.slice(0, length)
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ id, data: copy, n } satisfies WorkerRequest, [copy.buffer as ArrayBuffer])
    })
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.dead) {
        const id = this.nextId++
        await new Promise<Float32Array>((resolve, reject) => {
          this.pending.set(id, { resolve, reject })
          this.worker.postMessage({ id, close: true } satisfies WorkerRequest)
        }).catch(() => {})
      }
      await this.worker.terminate()
    })()
    return this.closing
  }
}
