// Fit jobs: a large fit answers 202 with a job id at once and runs here, one job at a time (a fit
// is CPU-bound; two at once would only slow both). Job state lives in the store, so a poll is
// answered by any replica. The queue is bounded (past `maxQueued` a submit is refused with 503 and
// Retry-After, as Triton refuses past max_queue_size), every job this replica holds is re-written
// while it waits or runs (a heartbeat), and a sweep fails the jobs whose replica stopped writing
// them — killed mid-fit, or cut off from the store — and deletes finished jobs past retention.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { CalserveError } from '../errors.js'
import type { JobRecord, Store } from '../store/types.js'

/** Progress is written to the store at most this often: often enough for a progress bar. */
const PROGRESS_EVERY_MS = 250

export type JobWork = (progress: (done: number) => void) => Promise<unknown>

export interface JobLimits {
  /** Jobs queued or running on this replica at once; one more is refused. */
  maxQueued: number
  /** A queued or running job not written for this long lost its replica. Heartbeats come at a third of it. */
  leaseMs: number
  /** Finished jobs are kept this long, then deleted. */
  retentionMs: number
}

export class JobRunner {
  private queue: Promise<void> = Promise.resolve()
  /** The jobs this replica holds, queued or running. */
  private readonly held = new Map<string, JobRecord>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
    private readonly limits: JobLimits,
  ) {}

  /** Sweeps once now (jobs a previous process left running), then heartbeats and sweeps periodically. */
  async start(): Promise<void> {
    await this.sweep()
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.limits.leaseMs / 3)))
    this.timer.unref()
  }

  /** Records a queued job and schedules `work`; resolves once the job is recorded. */
  async submit(model: string, total: number, work: JobWork): Promise<JobRecord> {
    if (this.held.size >= this.limits.maxQueued)
      throw new CalserveError('OVERLOADED', `${this.held.size} fit jobs are queued or running on this replica; retry later`, {
        jobs: this.held.size,
        max_queued_jobs: this.limits.maxQueued,
      })
    const now = new Date().toISOString()
    const job: JobRecord = {
      id: randomUUID(),
      model,
      state: 'queued',
      progress: { done: 0, total },
      result: null,
      error: null,
      created_at: now,
      updated_at: now,
    }
    await this.store.putJob(job)
    this.held.set(job.id, job)
    const accepted = structuredClone(job)
    this.queue = this.queue.then(() => this.run(job, work)).finally(() => this.held.delete(job.id))
    return accepted
  }

  private save(job: JobRecord, patch: Partial<JobRecord> = {}): Promise<void> {
    Object.assign(job, patch, { updated_at: new Date().toISOString() })
    return this.store.putJob(job)
  }

  private async run(job: JobRecord, work: JobWork): Promise<void> {
    let lastWrite = 0
    try {
      await this.save(job, { state: 'running' })
      const result = await work((done) => {
        job.progress = { done, total: job.progress.total }
        const now = Date.now()
        if (now - lastWrite < PROGRESS_EVERY_MS) return
        lastWrite = now
        this.save(job).catch((err: unknown) => this.log.warn({ err, job: job.id }, 'could not record job progress'))
      })
      await this.save(job, { state: 'succeeded', result, progress: { done: job.progress.total, total: job.progress.total } })
    } catch (err) {
      const error =
        err instanceof CalserveError
          ? { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) }
          : { code: 'CALSERVE_INTERNAL', message: 'internal error; see the server log' }
      if (!(err instanceof CalserveError) || err.statusCode >= 500) this.log.error({ err, job: job.id }, 'fit job failed')
      await this.save(job, { state: 'failed', error }).catch((e: unknown) => this.log.error({ err: e, job: job.id }, 'could not record job failure'))
    }
  }

  private async tick(): Promise<void> {
    // Heartbeat first, so a job of ours is never older than the lease when the sweep looks.
    for (const job of this.held.values()) await this.save(job).catch((err: unknown) => this.log.warn({ err, job: job.id }, 'could not heartbeat a job'))
    await this.sweep().catch((err: unknown) => this.log.warn({ err }, 'could not sweep the jobs'))
  }

  private async sweep(): Promise<void> {
    const now = Date.now()
    const { orphaned, expired } = await this.store.sweepJobs(
      new Date(now - this.limits.leaseMs).toISOString(),
      new Date(now - this.limits.retentionMs).toISOString(),
    )
    if (orphaned > 0) this.log.warn({ orphaned }, 'failed jobs whose replica stopped before they finished')
    if (expired > 0) this.log.info({ expired }, 'deleted finished jobs past their retention')
  }

  /** Resolves when every submitted job has finished: graceful shutdown waits for this. */
  async drain(): Promise<void> {
    while (this.held.size > 0) await this.queue
    clearInterval(this.timer)
  }
}
