// The Open Inference Protocol's error body, {"error": "message"}, for every /v2 route; the
// statuses are those of every other route (src/http/error-handler.ts).
import { errorHandler } from '../error-handler.js'

export interface V2ErrorBody {
  error: string
}

export function v2Error(message: string): V2ErrorBody {
  return { error: message }
}

export const v2ErrorHandler = errorHandler((_code, message) => v2Error(message))
