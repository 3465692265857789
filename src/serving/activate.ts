// The one way a calibration becomes active: append it to the store (one transaction, which tells
// the other replicas), then make it active here at once, so the answer and this replica's next
// predict agree. PUT, rollback and fit all call it.
import type { ActiveCalibrations } from '../store/active.js'
import type { CalibrationRecord, NewCalibration, Store } from '../store/types.js'

export interface ActivateDeps {
  store: Store
  calibrations: ActiveCalibrations
}

export async function activate(deps: ActivateDeps, calibration: NewCalibration, expectedVersion?: number): Promise<CalibrationRecord> {
  const record = await deps.store.append(calibration, expectedVersion)
  deps.calibrations.offer(record)
  return record
}
