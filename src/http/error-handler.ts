// One error handler for every protocol; only the body differs (calserve's {"error": {code,
// message, details}} for v1, the Open Inference Protocol's {"error": "message"} under /v2):
// calserve's named errors keep their status, schema validation is a 400 naming the field,
// Fastify's own client errors (bad JSON, body too large, wrong content type) keep theirs, and
// anything else is a 500 whose details stay in the log.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { BODY_TYPES } from '../api/media-types.js'
import { CalserveError } from '../errors.js'
import { redactQuery } from './redact.js'

/** What a 415 may name as accepted: the body types any route has a parser for. */
const ACCEPTABLE = ['application/json', ...BODY_TYPES]

export type ErrorBodyOf = (code: string, message: string, details?: unknown) => unknown

type HandledError = Error & { statusCode?: number; code?: string }

export function errorHandler(body: ErrorBodyOf) {
  return function handle(err: HandledError, req: FastifyRequest, reply: FastifyReply) {
    if (err instanceof CalserveError) {
      if (err.statusCode >= 500) req.log.warn({ err, method: req.method, url: redactQuery(req.url) }, err.message)
      // Shed load tells the client when to come back rather than letting it retry at once.
      if (err.code === 'CALSERVE_OVERLOADED' || err.code === 'CALSERVE_STORE_UNAVAILABLE') reply.header('retry-after', '1')
      return reply.code(err.statusCode).send(body(err.code, err.message, err.details))
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = (err as { validationContext?: string }).validationContext ?? 'body'
      const issues = err.validation.map((v) => ({
        field: [where, ...v.instancePath.split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      }))
      const first = issues[0]
      return reply.code(400).send(body('CALSERVE_BAD_INPUT', first ? `${first.field}: ${first.message}` : 'invalid request', { issues }))
    }
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      // A 415 says what the route takes: the body types its context has parsers for.
      const accepted = status === 415 ? ACCEPTABLE.filter((type) => reply.server.hasContentTypeParser(type)) : []
      if (accepted.length > 0)
        return reply
          .code(415)
          .send(body('CALSERVE_UNSUPPORTED_MEDIA_TYPE', `${err.message}; send ${accepted.join(' or ')}`, { fastify_code: err.code, accepted }))
      const name = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_INPUT'
      return reply.code(status).send(body(`CALSERVE_${name}`, err.message, err.code ? { fastify_code: err.code } : undefined))
    }
    req.log.error({ err, method: req.method, url: redactQuery(req.url), params: req.params }, 'request failed')
    return reply.code(status >= 500 && status < 600 ? status : 500).send(body('CALSERVE_INTERNAL', 'internal error; see the server log'))
  }
}
