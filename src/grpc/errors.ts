// calserve's errors as gRPC statuses, with the message REST gives. The status follows the HTTP
// status of the named error (400 → INVALID_ARGUMENT, 404 → NOT_FOUND, 503 → UNAVAILABLE…), except
// that a full queue is RESOURCE_EXHAUSTED, as a client retries it differently from a model that is
// not ready. The error's code (CALSERVE_…) travels in the trailers as calserve-code; anything that
// is not a CalserveError is INTERNAL and its message stays in the log.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js'
import { CalserveError } from '../errors.js'

const BY_HTTP_STATUS: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  405: status.UNIMPLEMENTED,
  409: status.FAILED_PRECONDITION,
  413: status.RESOURCE_EXHAUSTED,
  415: status.INVALID_ARGUMENT,
  429: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
}

export const INTERNAL_MESSAGE = 'internal error; see the server log'

export function grpcCode(err: CalserveError): status {
  if (err.code === 'CALSERVE_OVERLOADED') return status.RESOURCE_EXHAUSTED
  return BY_HTTP_STATUS[err.statusCode] ?? status.INTERNAL
}

/** The status a failed call answers; `internal` is true when the cause must be logged. */
export function toServiceError(err: unknown): { error: Partial<ServiceError>; internal: boolean } {
  const metadata = new Metadata()
  if (err instanceof CalserveError) {
    metadata.set('calserve-code', err.code)
    if (err.code === 'CALSERVE_OVERLOADED' || err.code === 'CALSERVE_STORE_UNAVAILABLE') metadata.set('retry-after', '1')
    return { error: { code: grpcCode(err), details: err.message, metadata }, internal: false }
  }
  metadata.set('calserve-code', 'CALSERVE_INTERNAL')
  return { error: { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata }, internal: true }
}

/** A status of the call itself (deadline, shutdown), not of calserve's errors. */
export function callError(code: status, details: string): Partial<ServiceError> {
  return { code, details }
}
