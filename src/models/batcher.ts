// Dynamic batching for one model version. Concurrent requests queue here and run together as one
// session.run of up to max_batch_size samples; each gets a view of its own rows of the output.
// Batches form greedily: when a run slot is free, everything queued (up to the limit) goes at once,
// so a lone request waits for nothing, and under load the batches grow by themselves while the
// previous run is busy. max_queue_delay_ms can add a wait for fuller batches. The queue is bounded:
// past max_queue_size samples a request is refused at once (503 with Retry-After) instead of
// waiting without bound.
import { CalserveError } from '../errors.js'

export interface BatchingOptions {
  maxBatchSize: number
  maxQueueDelayMs: number
  maxQueueSize: number
  /** Runs in flight at once on the model's session. */
  concurrency: number
}

/** What batches run on: an OnnxRunner or WorkerRunner, or in tests anything of this shape. */
export interface BatchRunner {
  /** Numbers per sample in a batch's input. */
  readonly sampleSize: number
  /** Logits per sample in its output. */
  readonly outputWidth: number
  /**
   * Runs `n` samples laid out back to back in `data`; resolves with their n × outputWidth logits.
   * `owned`: nothing else holds `data`'s memory, so the runner may take it (a worker's transfer).
   */
  run(data: Float32Array, n: number, owned?: boolean): Promise<Float32Array>
}

export interface BatchObserver {
  /** One session.run of `n` samples took `seconds`. */
  ran(n: number, seconds: number): void
  /** A request part waited `seconds` in the queue. */
  queued(seconds: number): void
}

interface Part {
  data: Float32Array
  n: number
  enqueuedAt: number
  done: (logits: Float32Array) => void
  fail: (err: unknown) => void
}

export class Batcher {
  private readonly queue: Part[] = []
  private queuedSamples = 0
  private running = 0
  private timer: NodeJS.Timeout | undefined
  private closed = false
  /** Requests (and jobs) that looked this version up and have not been answered yet. */
  private holds = 0

  private readonly sampleSize: number
  private readonly width: number

  constructor(
    private readonly runner: BatchRunner,
    readonly options: BatchingOptions,
    private readonly observer: BatchObserver = { ran() {}, queued() {} },
  ) {
    this.sampleSize = runner.sampleSize
    this.width = runner.outputWidth
  }

  /** Infers `n` samples; resolves with their n × width logits. */
  submit(data: Float32Array, n: number): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new CalserveError('MODEL_NOT_READY', 'the model is being unloaded'))
    const { maxBatchSize, maxQueueSize } = this.options
    // An empty queue always admits, so a request larger than the queue bound can still run alone.
    if (this.queuedSamples > 0 && this.queuedSamples + n > maxQueueSize)
      return Promise.reject(
        new CalserveError('OVERLOADED', `the queue of this model is full (${this.queuedSamples} samples waiting); retry shortly`, {
          queued: this.queuedSamples,
          max_queue_size: maxQueueSize,
        }),
      )
    if (n <= maxBatchSize) return new Promise((done, fail) => this.enqueue({ data, n, enqueuedAt: performance.now(), done, fail }))
    // Larger than one batch: split into parts, gather their rows into one output.
    const out = new Float32Array(n * this.width)
    const parts: Promise<void>[] = []
    for (let start = 0; start < n; start += maxBatchSize) {
      const k = Math.min(maxBatchSize, n - start)
      const slice = data.subarray(start * this.sampleSize, (start + k) * this.sampleSize)
      parts.push(
        new Promise<Float32Array>((done, fail) => this.enqueue({ data: slice, n: k, enqueuedAt: performance.now(), done, fail })).then(
          (logits) => out.set(logits, start * this.width),
        ),
      )
    }
    return Promise.all(parts).then(() => out)
  }

  private enqueue(part: Part): void {
    this.queue.push(part)
    this.queuedSamples += part.n
    this.pump()
  }

  private pump(): void {
    const { maxBatchSize, maxQueueDelayMs, concurrency } = this.options
    while (this.running < concurrency && this.queue.length > 0) {
      if (maxQueueDelayMs > 0 && this.queuedSamples < maxBatchSize) {
        const waited = performance.now() - this.queue[0]!.enqueuedAt
        if (waited < maxQueueDelayMs) {
          this.timer ??= setTimeout(() => {
            this.timer = undefined
            this.pump()
          }, maxQueueDelayMs - waited)
          return
        }
      }
      const batch = this.take(maxBatchSize)
      this.running++
      // execute() settles every part itself and never rejects.
      void this.execute(batch).finally(() => {
        this.running--
        this.pump()
      })
    }
  }

  /** Whole parts from the head of the queue, as many as fit in one batch. */
  private take(limit: number): Part[] {
    const batch: Part[] = []
    let n = 0
    while (this.queue.length > 0 && n + this.queue[0]!.n <= limit) {
      const part = this.queue.shift()!
      n += part.n
      batch.push(part)
    }
    this.queuedSamples -= n
    return batch
  }

  private async execute(batch: Part[]): Promise<void> {
    const started = performance.now()
    let n = 0
    for (const part of batch) {
      n += part.n
      this.observer.queued((started - part.enqueuedAt) / 1000)
    }
    // One request alone runs on its own buffer; several are copied side by side into one.
    let data: Float32Array
    if (batch.length === 1) data = batch[0]!.data
    else {
      data = new Float32Array(n * this.sampleSize)
      let offset = 0
      for (const part of batch) {
        data.set(part.data, offset)
        offset += part.data.length
      }
    }
    try {
      const logits = await this.runner.run(data, n, batch.length > 1)
      this.observer.ran(n, (performance.now() - started) / 1000)
      let row = 0
      for (const part of batch) {
        part.done(logits.subarray(row * this.width, (row + part.n) * this.width))
        row += part.n
      }
    } catch (err) {
      for (const part of batch) part.fail(err)
    }
  }

  /**
   * Counts a request that uses this version from its lookup to its answer (a fit still uploading
   * holds it across a repository load, between batches); answers the release, which counts once.
   */
  hold(): () => void {
    this.holds++
    let released = false
    return () => {
      if (released) return
      released = true
      this.holds--
    }
  }

  /**
   * For a model version that was replaced: still accepts work from requests that already hold it
   * (a fit streaming its batches, say), and resolves once no request holds it and it has been idle
   * for `idleMs` (which covers a lookup whose first batch is on its way).
   */
  async retire(idleMs = 1000): Promise<void> {
    let lastBusy = performance.now()
    for (;;) {
      if (this.running > 0 || this.queue.length > 0 || this.holds > 0) lastBusy = performance.now()
      else if (performance.now() - lastBusy >= idleMs) break
      await new Promise((r) => setTimeout(r, Math.min(50, idleMs)))
    }
    this.closed = true
  }

  /** Refuses new work; resolves when every queued and running batch has finished. */
  async close(): Promise<void> {
    this.closed = true
    while (this.running > 0 || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5))
  }
}
