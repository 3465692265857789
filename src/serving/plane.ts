// The data plane: the one path from decoded samples to calibrated predictions. Every front-end
// (REST v1, REST v2, gRPC) and the fit intake call it; they only decode requests into float32 and
// encode what comes back. It owns model lookup and readiness, the choice between the active
// calibration and the identity, the model's batcher, and the decision rule of src/calibration.
// Modelled on MLServer's DataPlane (mlserver/handlers/dataplane.py) and KServe's
// protocol/dataplane.py.
import { addBias, applyConformal, predict, type Prediction, type ScoredClass } from '../calibration/index.js'
import { badInput, CalserveError } from '../errors.js'
import type { ModelRepository, ReadyModel } from '../models/repository.js'
import type { ActiveCalibrations } from '../store/active.js'
import type { CalibrationRecord } from '../store/types.js'

export interface ClassifyOptions {
  /** false: predictions from the raw logits, γ not added (the record is still reported). */
  calibrated: boolean
  /** How many classes each prediction ranks, best first; clamped to the model's classes. */
  topK: number
  /**
   * Each sample's conformal prediction set under the calibration's stored conformal params (issue
   * 15 §2). Needs a calibration with them and the calibrated output: q̂ was fitted on the scores at
   * that γ and T, and says nothing about sets from the raw logits. Either missing is a 400.
   */
  sets?: boolean | undefined
}

/** What one classify call returns; the front-end encodes it in its protocol's shape. */
/**
 * Class `index`'s label, or the index itself where the manifest names fewer classes. A function of
 * its own, not a closure per response: tsx names each named function it creates (~0.35 µs).
 */
export const labelOf = (labels: readonly string[], index: number): string => labels[index] ?? String(index)

export interface Classification {
  model: ReadyModel
  /** The active calibration of the served version when the request arrived. */
  calibration: CalibrationRecord
  calibrated: boolean
  n: number
  c: number
  /** n × c raw logits. May be a view on a batch output shared with other requests: never written. */
  raw: Float32Array
  /** One per sample, top_k of length min(topK, c). */
  predictions: Prediction[]
  /** With `sets`: one per sample, the classes of its set in rank order (p descending, ties by index), score = p. */
  sets: ScoredClass[][] | null
  /** n × c logits as served: γ added to the absent columns when calibrated, else `raw` itself. */
  logits(): Float32Array
}

export class DataPlane {
  constructor(
    private readonly models: ModelRepository,
    private readonly calibrations: ActiveCalibrations,
  ) {}

  /** The model if it can serve now (404 unknown, 503 not ready); with `version`, 404 unless it is the one served. */
  model(name: string, version?: string): ReadyModel {
    const model = this.models.ready(name)
    if (version !== undefined && version !== String(model.version))
      throw new CalserveError('VERSION_NOT_FOUND', `model '${model.name}' has no version '${version}'; version ${model.version} is served`, {
        model: model.name,
        version,
      })
    return model
  }

  /** The active calibration of the model's served version (the identity, version 0, before any). */
  calibration(model: ReadyModel): CalibrationRecord {
    return this.calibrations.get(model.name, model.version)
  }

  /**
   * Keeps the model's version from retiring (after a repository load) until the release is
   * called: what a request that uses it for a while — a fit reading its set — holds from lookup to
   * answer. Triton and TorchServe likewise unload a replaced version only once its in-flight
   * requests have completed.
   */
  hold(model: ReadyModel): () => void {
    return model.batcher.hold()
  }

  /** Raw logits (n × c) of n samples through the model's batcher; what a fit collects. */
  infer(model: ReadyModel, data: Float32Array, n: number): Promise<Float32Array> {
    return model.batcher.submit(data, n)
  }

  /** Runs n samples (n × model.runner.sampleSize float32) and applies the decision rule. */
  async classify(model: ReadyModel, data: Float32Array, n: number, opts: ClassifyOptions): Promise<Classification> {
    const calibration = this.calibration(model)
    const { calibrated } = opts
    // Checked before the model runs: a request that can't be answered costs no inference.
    const conformal = opts.sets ? setsParams(model, calibration, calibrated) : null
    const release = this.hold(model)
    let raw: Float32Array
    try {
      raw = await this.infer(model, data, n)
    } finally {
      release()
    }
    const c = model.manifest.labels.length
    const rule = calibrated ? { gamma: calibration.gamma, temperature: calibration.temperature } : { gamma: 0, temperature: 1 }
    const predictions = predict({ data: raw, n, c }, model.absent, rule, Math.min(Math.max(1, opts.topK), c))
    const sets = conformal ? applyConformal({ data: raw, n, c }, model.absent, rule, conformal) : null
    let served: Float32Array | undefined
    return {
      model,
      calibration,
      calibrated,
      n,
      c,
      raw,
      predictions,
      sets,
      logits() {
        if (!served) {
          served = raw
          if (calibrated) {
            served = raw.slice()
            addBias(served, c, model.absent, calibration.gamma)
          }
        }
        return served
      },
    }
  }
}

/** The conformal params prediction sets use, or a 400 saying why there are none. */
function setsParams(model: ReadyModel, calibration: CalibrationRecord, calibrated: boolean): NonNullable<CalibrationRecord['conformal']> {
  if (!calibrated)
    throw badInput(
      'prediction sets need the calibrated output: the conformal threshold was fitted at the calibration’s γ and temperature; drop calibrated: false',
      {
        field: 'return_sets',
      },
    )
  if (!calibration.conformal)
    throw badInput(
      `calibration version ${calibration.version} of model '${model.name}' has no conformal calibration, so there are no prediction sets; fit with conformal: {alpha} to store one`,
      { field: 'return_sets', model: model.name, calibration_version: calibration.version },
    )
  return calibration.conformal
}
