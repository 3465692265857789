// Metrics of a reference model (e.g. the pre-trained model the fine-tuned one started from) on the
// fit set, uncalibrated: the point its "reference" floors and the curve's reference mark come from.
import { metricsAt } from './metrics.js'
import { prepare } from './prepare.js'
import type { Logits, Metrics } from './types.js'

export type ReferenceMetrics = Pick<Metrics, 'acc_s_y' | 'acc_u_y' | 'acc_y_y' | 'harmonic_mean' | 'balanced_accuracy' | 'ausuc'>

/**
 * The reference model's Acc_S/Y, Acc_U/Y, Acc_Y/Y, harmonic mean and balanced accuracy at γ = 0,
 * and the AUSUC of its own seen–absent curve. `logits` are the reference's on the same samples,
 * its columns already in the fit model's class order (the caller maps labels by name), and
 * `absent` the fit model's mask: S and U are the fine-tuned model's groups. Validates like prepare.
 */
export function referenceMetrics(logits: Logits, labels: Int32Array, absent: Uint8Array): ReferenceMetrics {
  const m = metricsAt(prepare(logits, labels, absent), 0)
  return {
    acc_s_y: m.acc_s_y,
    acc_u_y: m.acc_u_y,
    acc_y_y: m.acc_y_y,
    harmonic_mean: m.harmonic_mean,
    balanced_accuracy: m.balanced_accuracy,
    ausuc: m.ausuc,
  }
}
