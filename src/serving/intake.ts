// The fit intake: a labelled set from any transport (src/inputs/fit-sets.ts makes one per
// encoding) through the model into logits, then the fit — now, or as a job when the set is large or
// the client asked. Preconditions are checked once, before any inference is spent; a reference
// model named by the fit runs over the same batches.
import type { FitResponse } from '../api/fit.js'
import type { ReadyModel } from '../models/repository.js'
import type { JobRecord } from '../store/types.js'
import { LogitCollector, type CollectedSet } from './collector.js'
import { checkFitPreconditions, completeFit, type FitDeps, type FitRequest } from './fit.js'
import type { JobRunner } from './jobs.js'
import type { DataPlane } from './plane.js'

/** A labelled set as a transport carries it, ready to be read into a collector. */
export interface FitSet {
  /** The number of samples when known before reading (JSON, binary with its labels). */
  known: number | undefined
  /** Reading consumes the request body, so it must happen before the response is sent. */
  streamed: boolean
  /** Refuses now what reading would refuse later (a job must not fail on input that could be refused at once). */
  check(): void
  read(collector: LogitCollector): Promise<void>
}

export interface IntakeDeps extends FitDeps {
  plane: Pick<DataPlane, 'infer' | 'model' | 'hold'>
  jobs: JobRunner
}

export type FitOutcome = { kind: 'done'; response: FitResponse } | { kind: 'job'; job: JobRecord }

export async function intakeFit(
  deps: IntakeDeps,
  model: ReadyModel,
  set: FitSet,
  request: FitRequest & { async: boolean },
  syncMaxSamples: number,
): Promise<FitOutcome> {
  const reference = checkFitPreconditions(deps, model, request)
  // The model (and the reference) stay loaded until the fit is answered, or its job has read the
  // set: a repository load meanwhile must not retire the version the set is running through.
  const holds = [deps.plane.hold(model), ...(reference ? [deps.plane.hold(reference.model)] : [])]
  const release = () => holds.forEach((r) => r())
  try {
    return await intake(deps, model, set, request, syncMaxSamples, reference, release)
  } catch (err) {
    release()
    throw err
  }
}

async function intake(
  deps: IntakeDeps,
  model: ReadyModel,
  set: FitSet,
  request: FitRequest & { async: boolean },
  syncMaxSamples: number,
  reference: ReturnType<typeof checkFitPreconditions>,
  release: () => void,
): Promise<FitOutcome> {
  const asJob = (n: number) => request.async || n > syncMaxSamples
  const collect = async (progress?: (done: number) => void): Promise<CollectedSet> => {
    const collector = new LogitCollector(model, deps.plane, set.known, progress, undefined, reference)
    await set.read(collector)
    return collector.finish()
  }
  const job = async (n: number, work: (progress: (done: number) => void) => Promise<FitResponse>): Promise<FitOutcome> => ({
    kind: 'job',
    job: await deps.jobs.submit(model.name, n, work),
  })

  if (set.streamed || set.known === undefined) {
    // A streamed set is read, and run through the model, inside the request: its body can be read
    // only while the request is open, and keeping the raw bytes for a job would cost the memory
    // that streaming saves. Only its logits (n × classes) wait for the job.
    const collected = await collect()
    release()
    if (!asJob(collected.n)) return { kind: 'done', response: await completeFit(deps, model, collected, request) }
    return job(collected.n, () => completeFit(deps, model, collected, request))
  }
  if (!asJob(set.known)) {
    const collected = await collect()
    release()
    return { kind: 'done', response: await completeFit(deps, model, collected, request) }
  }
  set.check()
  return job(set.known, async (progress) => {
    try {
      return await completeFit(deps, model, await collect(progress), request)
    } finally {
      release()
    }
  })
}
