// Bearer-token access control. Each route says what it needs in its config:
//   access: 'public' (health, metrics, docs) | 'read' (default: reads and predict) | 'admin' (writes)
// Admin tokens may do everything; API tokens may read and predict. With no admin token configured,
// writes are allowed only because the server listens on loopback (config refuses anything else
// unless CALSERVE_ALLOW_INSECURE=1). Tokens are compared in constant time, by their SHA-256, so
// neither a token's content nor its length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { CalserveError } from '../errors.js'

export type Access = 'public' | 'read' | 'admin'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
  }
  interface FastifyInstance {
    /** The token check of every front-end (see createAuthorizer). */
    authorize: Authorize
  }
  interface FastifyRequest {
    /** The name of the token that authenticated the request; null when none did. */
    principal: string | null
  }
}

interface KnownToken {
  name: string
  digest: Buffer
  admin: boolean
}

const sha256 = (s: string) => createHash('sha256').update(s).digest()

/** The token whose digest matches; every known token is compared, so timing says nothing. */
function match(tokens: KnownToken[], presented: string): KnownToken | undefined {
  const digest = sha256(presented)
  let found: KnownToken | undefined
  for (const t of tokens) if (timingSafeEqual(t.digest, digest) && !found) found = t
  return found
}

/**
 * Why a state-changing request came from another origin's page, or null when it did not. A
 * browser sends a POST to any origin without asking (a no-cors fetch, a form) when it has no body
 * or a "simple" content type — an unload has no body — and only the server can refuse it. Every
 * current browser says where a request comes from in Sec-Fetch-Site ("same-origin", "same-site",
 * "cross-site", or "none" when the user typed it); older ones still send Origin on every POST.
 * Clients that are not browsers (curl, the CLI) send neither and are not affected.
 */
export function crossSiteReason(headers: Record<string, string | string[] | undefined>): string | null {
  const site = headers['sec-fetch-site']
  if (typeof site === 'string') return site === 'same-origin' || site === 'none' ? null : `Sec-Fetch-Site is ${site}`
  const origin = headers.origin
  if (typeof origin !== 'string') return null
  let originHost: URL
  try {
    originHost = new URL(origin)
  } catch {
    return `Origin ${origin} is not an origin`
  }
  const host = (headers['x-forwarded-host'] ?? headers.host)?.toString().split(',')[0]?.trim().toLowerCase() ?? ''
  // A proxy that passes nginx's $host drops the port: compare host names then.
  const own = host.includes(':') && !host.endsWith(']') ? originHost.host : originHost.hostname
  return own.toLowerCase() === host ? null : `Origin ${origin} is not this server`
}

/** How many times a header was sent (rawHeaders alternates names and values). */
function countHeader(rawHeaders: string[], name: string): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) n++
  return n
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return m?.[1]
}

/**
 * The access check every front-end shares (HTTP's hook below, gRPC's metadata): the principal the
 * `Authorization` value names (null when none), or a CalserveError UNAUTHORIZED / FORBIDDEN.
 */
export type Authorize = (access: Access, authorization: string | undefined) => string | null

export function createAuthorizer(config: Pick<Config, 'adminTokens' | 'apiTokens'>): Authorize {
  const admin = config.adminTokens.map((t) => ({ name: t.name, digest: sha256(t.token), admin: true }))
  const api = config.apiTokens.map((t) => ({ name: t.name, digest: sha256(t.token), admin: false }))
  const all = [...admin, ...api]
  return (access, authorization) => {
    if (access === 'public') return null
    const presented = bearer(authorization)
    const token = presented === undefined ? undefined : match(all, presented)
    // Reads are guarded once API tokens exist, writes once admin tokens do; an open route ignores
    // a token it doesn't know rather than refusing it.
    const guarded = access === 'admin' ? admin.length > 0 : api.length > 0
    if (!guarded) return token?.name ?? null
    if (presented === undefined)
      throw new CalserveError('UNAUTHORIZED', `this ${access === 'admin' ? 'change' : 'request'} needs Authorization: Bearer <token>`)
    if (!token || (access === 'admin' && !token.admin))
      throw new CalserveError('FORBIDDEN', access === 'admin' ? 'this token may not change calibrations' : 'this token is not accepted')
    return token.name
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const authorize = createAuthorizer(opts.config)
    app.decorate('authorize', authorize)
    app.decorateRequest('principal', null)

    // A callback hook, not an async one (a promise and a turn per request); what it throws goes to done.
    app.addHook('onRequest', (req, reply, done) => {
      try {
        check(req, reply)
      } catch (err) {
        done(err as Error)
        return
      }
      done()
    })
    const check = (req: FastifyRequest, reply: FastifyReply) => {
      // The documentation UI's own routes come from @fastify/swagger-ui and carry no config.
      const access = req.routeOptions.url?.startsWith('/docs') ? 'public' : (req.routeOptions.config?.access ?? 'read')
      // Writes refuse what another site's page made the browser send, token or not (see
      // crossSiteReason); reads stay open to pages as before (they change nothing).
      if (access === 'admin') {
        const why = crossSiteReason(req.headers)
        if (why) throw new CalserveError('FORBIDDEN', `a change may not come from another site's page (${why})`, { reason: 'cross-site' })
      }
      // Node keeps the first of two Authorization headers and drops the other without a word; a
      // proxy may have added one, or a client sent two tokens: refuse rather than guess which counts.
      if (countHeader(req.raw.rawHeaders, 'authorization') > 1)
        throw new CalserveError('BAD_INPUT', 'the request has more than one Authorization header; send one', { field: 'authorization' })
      try {
        req.principal = authorize(access, req.headers.authorization)
      } catch (err) {
        if (err instanceof CalserveError && err.code === 'CALSERVE_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="calserve"')
        throw err
      }
    }
  },
  { name: 'calserve-auth' },
)
