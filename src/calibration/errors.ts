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
