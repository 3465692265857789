// The calibration dashboard: plain static files from src/ui/ (hand-written, no build step), read
// once when the app is built and served at /ui under a strict Content-Security-Policy. `/` redirects
// to /ui. The page talks only to the public v1 API; these routes stay out of the OpenAPI document.
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'

interface Asset {
  type: string
  body: Buffer
}

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}

// Everything the page loads comes from this origin; no inline script or style, no plugins, no
// framing. `img-src data:` is only for the empty favicon.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ')

/** src/ui beside src/http; from a compiled dist/http, the source tree's src/ui. */
function uiDir(): string {
  const candidates = [resolve(import.meta.dirname, '../ui'), resolve(import.meta.dirname, '../../src/ui')]
  return candidates.find((d) => existsSync(resolve(d, 'index.html'))) ?? candidates[0]!
}

function loadAssets(dir: string): Map<string, Asset> {
  return new Map(Object.entries(FILES).map(([name, type]) => [name, { type, body: readFileSync(resolve(dir, name)) }]))
}

const routes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const assets = loadAssets(opts.dir ?? uiDir())
  const send = (name: string) => (_req: unknown, reply: import('fastify').FastifyReply) => {
    const asset = assets.get(name)!
    return reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .type(asset.type)
      .send(asset.body)
  }
  // The page itself is public: it holds no data, and asks for tokens for what it calls.
  const hide = { config: { access: 'public' as const }, schema: { hide: true } }

  app.get('/', hide, async (_req, reply) => reply.redirect('/ui', 302))
  app.get('/ui', hide, send('index.html'))
  app.get('/ui/index.html', hide, send('index.html'))
  app.get('/ui/app.js', hide, send('app.js'))
  app.get('/ui/style.css', hide, send('style.css'))
}
export default routes
