// Named errors and the one error body every route answers with:
//   {"error": {"code": "CALSERVE_…", "message": "…", "details": …}}
// A CalserveError carries its HTTP status; anything else that reaches the error handler is a 500
// whose message is hidden from the client (see app.ts).
import { z } from 'zod'

export const ErrorCode = {
  BAD_INPUT: 400,
  INFEASIBLE: 400,
  MODEL_LOAD_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  VERSION_CONFLICT: 409,
  NOT_EXPORTABLE: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  MODEL_NOT_READY: 503,
  OVERLOADED: 503,
  STORE_UNAVAILABLE: 503,
} as const
export type ErrorName = keyof typeof ErrorCode

export class CalserveError extends Error {
  readonly code: `CALSERVE_${ErrorName}`
  readonly statusCode: number
  constructor(
    name: ErrorName,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'CalserveError'
    this.code = `CALSERVE_${name}`
    this.statusCode = ErrorCode[name]
  }
}

export const badInput = (message: string, details?: unknown) => new CalserveError('BAD_INPUT', message, details)
export const modelNotFound = (name: string) => new CalserveError('MODEL_NOT_FOUND', `model '${name}' is not in the repository`, { model: name })

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('stable machine-readable code, CALSERVE_…'),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorBody>

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } }
}

export function versionConflict(expected: number, active: number): CalserveError {
  return new CalserveError('VERSION_CONFLICT', `expected_version ${expected} is not the active calibration version ${active}`, {
    expected_version: expected,
    active_version: active,
  })
}
