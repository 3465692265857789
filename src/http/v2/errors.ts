// The Open Inference Protocol's error body, {"error": "message"}, for every /v2 route: calserve's
// named errors keep their status (400 bad input, 404 unknown model or version, 503 not ready…),
// validation errors are 400 naming the field, Fastify's client errors keep theirs, and anything
// else is a 500 whose details stay in the log.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { CalserveError } from '../../errors.js'

export interface V2ErrorBody {
  error: string
}

export function v2Error(message: string): V2ErrorBody {
  return { error: message }
}

export function v2ErrorHandler(err: Error & { statusCode?: number; code?: string }, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof CalserveError) {
    if (err.statusCode >= 500) req.log.warn({ err, method: req.method, url: req.url }, err.message)
    if (err.code === 'CALSERVE_OVERLOADED' || err.code === 'CALSERVE_STORE_UNAVAILABLE') reply.header('retry-after', '1')
    return reply.code(err.statusCode).send(v2Error(err.message))
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as { validationContext?: string }).validationContext ?? 'body'
    const first = err.validation[0]
    const field = [where, ...(first?.instancePath.split('/').filter(Boolean) ?? [])].join('.')
    return reply.code(400).send(v2Error(first ? `${field}: ${first.message ?? 'invalid'}` : 'invalid request'))
  }
  const status = err.statusCode ?? 500
  // Fastify's own client errors: body too large, unsupported content type…
  if (status === 415)
    return reply.code(415).send(v2Error(`${err.message}; send application/json, or application/octet-stream with Inference-Header-Content-Length`))
  if (status >= 400 && status < 500) return reply.code(status).send(v2Error(err.message))
  req.log.error({ err, method: req.method, url: req.url, params: req.params }, 'request failed')
  return reply.code(status >= 500 && status < 600 ? status : 500).send(v2Error('internal error; see the server log'))
}
