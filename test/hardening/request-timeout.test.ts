// CALSERVE_REQUEST_TIMEOUT_MS bounds how long a client may take to send its request: its headers
// (slowloris) and its body alike. Node reads requestTimeout, headersTimeout and the interval that
// checks them when the server is created; set afterwards (as Fastify's own requestTimeout option
// does), a 10 s timeout let slow headers live 29 s and a slow body 89 s (issue 18 item 7).
//
// Against the real process over loopback, with a 1.5 s timeout: a client that trickles its
// headers, and one that trickles a body it announced, each get a 408 or a closed connection well
// within 5 s, while an ordinary request on another connection is still answered.
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { call, start, stop, waitReady, type Server } from '../e2e/process.js'

const TIMEOUT_MS = 1500
/** Generous: the timeout plus Node's check interval plus a busy machine. */
const BOUND_MS = 5000
/** How long the test waits before calling the connection still open. */
const GIVE_UP_MS = 15_000

interface Ending {
  ms: number
  /** What the server wrote back, if anything (the 408's status line). */
  reply: string
  how: 'closed' | 'still open'
}

/** Opens a connection, writes `head` and then one byte of `drip` every 200 ms until the server ends it. */
function trickle(server: Server, head: string, drip: string): Promise<Ending> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const socket: Socket = connect(server.port, '127.0.0.1')
    let reply = ''
    let i = 0
    const timer = setInterval(() => {
      if (!socket.writable) return
      socket.write(drip[i % drip.length]!)
      i++
    }, 200)
    const end = (how: Ending['how']) => {
      clearInterval(timer)
      clearTimeout(giveUp)
      socket.destroy()
      resolve({ ms: Math.round(performance.now() - t0), reply, how })
    }
    const giveUp = setTimeout(() => end('still open'), GIVE_UP_MS)
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (reply += d))
    socket.on('error', () => {})
    socket.on('close', () => end('closed'))
    socket.on('connect', () => socket.write(head))
  })
}

t.test('CALSERVE_REQUEST_TIMEOUT_MS bounds slow headers and slow bodies', async (t) => {
  const server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t, 'calserve-timeout-'), 'calserve.db')}`,
    CALSERVE_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
    CALSERVE_LOG_LEVEL: 'warn',
  })
  await waitReady(server)

  const [headers, body] = await Promise.all([
    // The request line, then header bytes that never end with the blank line.
    trickle(server, 'GET /v1/models HTTP/1.1\r\nHost: x\r\n', 'X-Slow: aaaaaaaaaa\r\n'),
    // Complete headers announcing 100 kB, then the body a byte at a time.
    trickle(server, 'POST /v1/models/tiny/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"inputs":[', '0,'),
    // Meanwhile an ordinary client is served.
    (async () => {
      await new Promise((r) => setTimeout(r, 500))
      const res = await call(server, 'POST', '/v1/models/tiny/predict', { inputs: [[0.1, 0.2, 0.3]] })
      t.equal(res.status, 200, `an ordinary predict is answered while the slow clients hang on (${res.text.slice(0, 200)})`)
    })(),
  ])

  for (const [what, ending] of [
    ['slow headers', headers],
    ['slow body', body],
  ] as const) {
    t.comment(`${what}: ${ending.how} after ${ending.ms} ms; reply ${JSON.stringify(ending.reply.split('\r\n')[0] ?? '')}`)
    t.equal(ending.how, 'closed', `${what}: the server ended the connection (after ${ending.ms} ms)`)
    t.ok(ending.ms >= TIMEOUT_MS - 100, `${what}: not before the timeout (${ending.ms} ms)`)
    t.ok(ending.ms < BOUND_MS, `${what}: within ${BOUND_MS} ms of a ${TIMEOUT_MS} ms timeout (${ending.ms} ms)`)
    t.ok(ending.reply === '' || ending.reply.startsWith('HTTP/1.1 408'), `${what}: a 408 or nothing (${JSON.stringify(ending.reply.slice(0, 60))})`)
  }
  t.same(await stop(server), { code: 0, signal: null }, 'exits 0')
})
