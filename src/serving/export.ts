// A served model with one of its calibrations baked in (issue 15 §4): the model.onnx its served
// version was loaded from, rewritten by src/export (one Add of the γ vector, one Div by T when
// T ≠ 1) and labelled in metadata_props with what was applied, so the file says where it came from.
import { readFile } from 'node:fs/promises'
import { CalserveError } from '../errors.js'
import { ExportError, exportCalibratedOnnx } from '../export/onnx.js'
import type { ReadyModel } from '../models/repository.js'
import type { CalibrationRecord } from '../store/types.js'

export interface CalibratedExport {
  bytes: Uint8Array
  /** `<model>-v<model version>-cal<calibration version>.onnx` */
  filename: string
}

/** The metadata_props keys an export writes (each replaces a prop of the same key the model had). */
export function exportMetadata(model: ReadyModel, calibration: CalibrationRecord): Record<string, string> {
  const labels = model.manifest.labels
  return {
    'calserve.model': model.name,
    'calserve.model_version': String(model.version),
    'calserve.calibration_version': String(calibration.version),
    'calserve.calibration_method': calibration.method,
    // Shortest round-trip decimals of the stored float64; the graph holds their float32 rounding.
    'calserve.gamma': String(calibration.gamma),
    'calserve.temperature': String(calibration.temperature),
    'calserve.output': model.runner.io.output.name,
    // JSON arrays: a label may hold a comma.
    'calserve.fine_tuning_classes': JSON.stringify(labels.filter((_, j) => !model.absent[j])),
    'calserve.absent_classes': JSON.stringify(labels.filter((_, j) => model.absent[j])),
    // The conformal calibration fitted with this version, for an app that builds the sets itself
    // from the exported logits (softmax over them, then the stored q̂); absent when there is none.
    ...(calibration.conformal ? { 'calserve.conformal': JSON.stringify(calibration.conformal) } : {}),
  }
}

export async function exportCalibrated(model: ReadyModel, calibration: CalibrationRecord): Promise<CalibratedExport> {
  // Read at export time rather than kept in memory from the load: a model file can be large, and
  // an export is rare. Replacing model.onnx in place without a reload would export the new file.
  const onnx = await readFile(model.file)
  let bytes: Uint8Array
  try {
    bytes = exportCalibratedOnnx(onnx, {
      outputName: model.runner.io.output.name,
      absent: model.absent,
      gamma: calibration.gamma,
      temperature: calibration.temperature,
      metadata: exportMetadata(model, calibration),
    })
  } catch (err) {
    if (!(err instanceof ExportError)) throw err
    throw new CalserveError('NOT_EXPORTABLE', `model '${model.name}' version ${model.version} cannot be exported with its calibration: ${err.message}`, {
      model: model.name,
    })
  }
  return { bytes, filename: `${model.name}-v${model.version}-cal${calibration.version}.onnx` }
}
