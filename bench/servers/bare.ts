// The HTTP limits, two routes of a Fastify 5 server (no logger) that return a constant:
// - GET /bare: no body at all: the most any Fastify route can do on this core (the "bare" row);
// - POST /v1/models/:name/predict: the same request as calserve's JSON predict (same path shape,
//   same JSON body, parsed by Fastify's default parser), then the constant: the HTTP + JSON limit
//   (the "json-parse" row).
//
//   node --import tsx bench/servers/bare.ts --port 8101     (or PORT=8101)
import Fastify from 'fastify'

const port = Number(flag('--port') ?? process.env['PORT'] ?? 8101)
const host = flag('--host') ?? process.env['HOST'] ?? '127.0.0.1'

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
const constant = { model: 'bare', predictions: [{ label: '0', index: 0, score: 1 }] }
app.get('/health', async () => ({ ok: true }))
app.get('/bare', async () => constant)
app.post('/v1/models/:name/predict', async () => constant)

await app.listen({ host, port })
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}
