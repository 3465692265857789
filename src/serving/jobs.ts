// Fit jobs: a large fit answers 202 with a job id at once and runs here, one job at a time (a fit
// is CPU-bound; two at once would only slow both). Job state lives in the store, so a later
// replica-aware version can answer a poll from any replica.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { CalserveError } from '../errors.js'
import type { JobRecord, Store } from '../store/types.js'

/** Progress is written to the store at most this often: often enough for a progress bar. */
const PROGRESS_EVERY_MS = 250

export type JobWork = (progress: (done: number) => void) => Promise<unknown>

export class JobRunner {
  private queue: Promise<void> = Promise.resolve()
  private pending = 0

  constructor(
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Records a queued job and schedules `work`; resolves once the job is recorded. */
  async submit(model: string, total: number, work: JobWork): Promise<JobRecord> {
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
    this.pending++
    const accepted = structuredClone(job)
    this.queue = this.queue.then(() => this.run(job, work)).finally(() => this.pending--)
    return accepted
  }

  private async run(job: JobRecord, work: JobWork): Promise<void> {
    const save = (patch: Partial<JobRecord>) => {
      Object.assign(job, patch, { updated_at: new Date().toISOString() })
      return this.store.putJob(job)
    }
    let lastWrite = 0
    try {
      await save({ state: 'running' })
      const result = await work((done) => {
        job.progress = { done, total: job.progress.total }
        const now = Date.now()
        if (now - lastWrite < PROGRESS_EVERY_MS) return
        lastWrite = now
        save({}).catch((err: unknown) => this.log.warn({ err, job: job.id }, 'could not record job progress'))
      })
      await save({ state: 'succeeded', result, progress: { done: job.progress.total, total: job.progress.total } })
    } catch (err) {
      const error =
        err instanceof CalserveError
          ? { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) }
          : { code: 'CALSERVE_INTERNAL', message: 'internal error; see the server log' }
      if (!(err instanceof CalserveError) || err.statusCode >= 500) this.log.error({ err, job: job.id }, 'fit job failed')
      await save({ state: 'failed', error }).catch((e: unknown) => this.log.error({ err: e, job: job.id }, 'could not record job failure'))
    }
  }

  /** Resolves when every submitted job has finished: graceful shutdown waits for this. */
  async drain(): Promise<void> {
    while (this.pending > 0) await this.queue
  }
}
