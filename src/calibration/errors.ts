/**
 * Bad input to the calibration math that the caller can fix (a labelled set without the samples a
 * method needs, a label out of range, an unknown method). `field` names the request field at fault;
 * the HTTP layer maps this error to 400. Internal inconsistencies (logits shape, a non-finite
 * logit from the model) are RangeError instead: they are not the requester's fault.
 */
export class CalibrationInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message)
    this.name = 'CalibrationInputError'
  }
}

/**
 * The constrained sweep found no γ meeting the floors. `field` is "constraints.<floor>"; `floor`
 * names it, `value` is the floor asked for, and `best` the highest value of that metric any γ
 * attains on this set while meeting the other floor (or alone, when this floor alone fails).
 * A CalibrationInputError, so it is a 400 anyway; callers wanting a distinct code check it first.
 */
export class InfeasibleConstraintError extends CalibrationInputError {
  constructor(
    readonly floor: 'min_acc_s_y' | 'min_acc_u_y',
    readonly value: number,
    readonly best: number,
  ) {
    super(
      `no γ meets ${floor} = ${value}: the best ${floor === 'min_acc_s_y' ? 'Acc_S/Y' : 'Acc_U/Y'} attainable` +
        ` on this set is ${best}`,
      `constraints.${floor}`,
    )
    this.name = 'InfeasibleConstraintError'
  }
}
