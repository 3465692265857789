// The data plane: the one path from decoded samples to calibrated predictions. Every front-end
// (REST v1, REST v2, gRPC) and the fit intake call it; they only decode requests into float32 and
// encode what comes back. It owns model lookup and readiness, the choice between the active
// calibration and the identity, the model's batcher, and the decision rule of src/calibration.
// Modelled on MLServer's DataPlane (mlserver/handlers/dataplane.py) and KServe's
// protocol/dataplane.py.
import { addBias, predict, type Prediction } from '../calibration/index.js'
import { CalserveError } from '../errors.js'
import type { ModelRepository, ReadyModel } from '../models/repository.js'
import type { ActiveCalibrations } from '../store/active.js'
import type { CalibrationRecord } from '../store/types.js'

export interface ClassifyOptions {
  /** false: predictions from the raw logits, γ not added (the record is still reported). */
  calibrated: boolean
  /** How many classes each prediction ranks, best first; clamped to the model's classes. */
  topK: number
}

/** What one classify call returns; the front-end encodes it in its protocol's shape. */
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

  /** Raw logits (n × c) of n samples through the model's batcher; what a fit collects. */
  infer(model: ReadyModel, data: Float32Array, n: number): Promise<Float32Array> {
    return model.batcher.submit(data, n)
  }

  /** Runs n samples (n × model.runner.sampleSize float32) and applies the decision rule. */
  async classify(model: ReadyModel, data: Float32Array, n: number, opts: ClassifyOptions): Promise<Classification> {
    const calibration = this.calibration(model)
    const raw = await this.infer(model, data, n)
    const c = model.manifest.labels.length
    const { calibrated } = opts
    const rule = calibrated ? { gamma: calibration.gamma, temperature: calibration.temperature } : { gamma: 0, temperature: 1 }
    const predictions = predict({ data: raw, n, c }, model.absent, rule, Math.min(Math.max(1, opts.topK), c))
    let served: Float32Array | undefined
    return {
      model,
      calibration,
      calibrated,
      n,
      c,
      raw,
      predictions,
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
