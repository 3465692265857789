// The drain's end (src/http/connections.ts), against the real process: a client trickling its
// headers and one trickling a body after its request was refused no longer hold the close for
// the whole grace period. At the grace end only their connections are closed; a predict in flight
// on another connection is still answered, and the process exits 0 soon after the grace period
// (on main it waited the whole grace, exited 1 "killed by timeout" and reset the predicts).
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { start, waitReady } from '../e2e/process.js'

const GRACE_MS = 2000

/** Keeps a connection open writing `drip` a byte at a time; settles when the server closes it. */
function trickle(port: number, head: string, drip: string): { closed: Promise<number> } {
  const socket: Socket = connect(port, '127.0.0.1')
  const t0 = performance.now()
  let i = 0
  const timer = setInterval(() => socket.writable && socket.write(drip[i++ % drip.length]!), 100)
  socket.on('error', () => {})
  socket.on('data', () => {})
  socket.on('connect', () => socket.write(head))
  return {
    closed: new Promise((resolve) =>
      socket.on('close', () => {
        clearInterval(timer)
        resolve(performance.now() - t0)
      }),
    ),
  }
}

t.test('at the grace end only the connections not being answered are closed', async (t) => {
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t, 'calserve-connections-'), 'calserve.db')}`,
    CALSERVE_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES: '1024',
    CALSERVE_LOG_LEVEL: 'info',
  })
  await waitReady(server)
  const headers = trickle(server.port, 'GET /v1/models HTTP/1.1\r\nHost: x\r\n', 'X-Slow: a\r\n')
  // Refused by its Content-Length (413) at once; the client keeps sending its body.
  const refused = trickle(
    server.port,
    'POST /v1/models/tiny/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
    '0,',
  )
  await new Promise((r) => setTimeout(r, 300))
  // A predict whose body arrives slowly but whole before the grace ends: answered after SIGTERM.
  let started!: () => void
  const headersSent = new Promise<void>((r) => (started = r))
  const answer = new Promise<number | string>((resolve) => {
    const body = JSON.stringify({ inputs: [[0.1, 0.2, 0.3]] })
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/v1/models/tiny/predict',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    req.write(body.slice(0, 5), () => started())
    setTimeout(() => req.end(body.slice(5)), 800)
  })
  await headersSent
  await new Promise((r) => setTimeout(r, 100))
  const sigtermAt = performance.now()
  server.proc.kill('SIGTERM')
  const status = await answer
  const exit = await server.exited
  const exitedAfter = performance.now() - sigtermAt
  await Promise.all([headers.closed, refused.closed])
  t.equal(status, 200, `the predict in flight at SIGTERM was answered (${status})`)
  t.same(exit, { code: 0, signal: null }, 'exits 0') || t.comment(server.output().slice(-3000))
  t.ok(exitedAfter >= GRACE_MS - 100, `the trickling clients had the grace period (exit ${Math.round(exitedAfter)} ms after SIGTERM)`)
  t.ok(exitedAfter < 2 * GRACE_MS, `exit soon after the grace end, not at twice it (${Math.round(exitedAfter)} ms)`)
  const closedLine = server.logs().find((l) => l.msg === 'closed the connections whose request had not arrived whole')
  t.ok(closedLine && (closedLine.closed as number) >= 1, `the grace end closed the half-received connections (${JSON.stringify(closedLine)})`)
})
