// Shutdown drains for real (issue 18 items 5 and 6), against the real process over loopback.
//
// - `npm start` in a process group of its own, as a terminal, systemd (KillMode=control-group) or
//   a shell entrypoint under `docker stop` run it: SIGTERM to the whole group, twice. The server
//   gets it directly and again relayed by npm; every predict in flight — some whose large bodies
//   were sent whole, some whose bodies were still arriving — is answered 200, "shutting down" is
//   logged once, and npm exits 0 with the server (`exec` in the start script: no shell between
//   them, which npm's relay would reach instead of the server, and whose death npm would not see).
//   Under `tsx src/main.ts` tsx relayed the signal and SIGKILLed the server 60 ms later, and
//   close-with-grace exited 1 on the second signal.
// - npm killed alone (SIGKILL): the orphaned server notices and drains; it no longer serves on.
// - `node` directly, with no readiness delay, the event loop busy with a large predict: six small
//   predicts connected and sent 20 ms before SIGTERM are all answered, five runs in a row. Node
//   accepts one connection per turn of the loop, and server.close() resets what is left in the
//   backlog and destroys accepted connections whose request has not been read: up to five of the
//   six were reset.
import { request } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { start, waitReady, type Server } from '../e2e/process.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Answer {
  status?: number
  error?: string
  /** performance.now() when the answer ended. */
  at: number
}

/** A predict on a connection of its own; `split` sends the body's second half only when `rest` resolves. */
function predict(port: number, body: string, rest?: Promise<unknown>): { sent: Promise<void>; answer: Promise<Answer> } {
  let sent!: () => void
  let connected!: () => void
  const written = new Promise<void>((r) => (sent = r))
  // Written means handed to the socket, which may still be connecting: sent is both.
  const sentP = Promise.all([written, new Promise<void>((r) => (connected = r))]).then(() => {})
  const answer = new Promise<Answer>((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/models/digits-finetuned/predict',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, at: performance.now() }))
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, at: performance.now() }))
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, at: performance.now() }))
    req.on('socket', (socket) => socket.once('connect', () => connected()))
    req.setTimeout(60_000, () => req.destroy(new Error('client timeout')))
    if (rest === undefined) req.end(body, sent)
    else {
      const half = Math.floor(body.length / 2)
      req.write(body.slice(0, half), () => sent())
      void rest.then(() => req.end(body.slice(half)))
    }
  })
  return { sent: sentP, answer }
}

/** `n` samples of the digits model's 64 pixels, written out long so the body takes a while to parse. */
function digitsBody(n: number, seed: number): string {
  const inputs = Array.from({ length: n }, (_, i) => Array.from({ length: 64 }, (_, j) => (((i * 31 + j * 7 + seed) % 97) / 97 + 1e-9).toFixed(15)))
  return `{"inputs":[${inputs.map((row) => `[${row.join(',')}]`).join(',')}]}`
}

const messages = (server: Server) => server.logs().map((l) => l.msg)

function env(t: Parameters<typeof tempDir>[0]): Record<string, string> {
  return {
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t, 'calserve-drain-'), 'calserve.db')}`,
    CALSERVE_MODEL_REPOSITORY: 'models',
    // Shedding is not what this test is about: a busy two-core machine lags.
    CALSERVE_MAX_EVENT_LOOP_DELAY_MS: '0',
  }
}

t.test('npm start, SIGTERM to the whole group twice: every in-flight predict is answered, npm exits 0', async (t) => {
  const server = await start(t, env(t), { npm: true })
  await waitReady(server, 60_000)
  // Six predicts of 300 samples (the model's queue holds 2048): three sent whole, three with half
  // their body sent when the signals come.
  let release!: () => void
  const rest = new Promise<void>((r) => (release = r))
  const calls = Array.from({ length: 6 }, (_, i) => predict(server.port, digitsBody(300, i), i % 2 === 0 ? undefined : rest))
  await Promise.all(calls.map((c) => c.sent))
  const signalledAt = performance.now()
  process.kill(-server.proc.pid!, 'SIGTERM')
  await sleep(100)
  process.kill(-server.proc.pid!, 'SIGTERM')
  await sleep(200)
  release()
  const answers = await Promise.all(calls.map((c) => c.answer))
  const exit = await server.exited
  t.comment(`answers: ${answers.map((a) => `${a.status ?? a.error} at +${Math.round(a.at - signalledAt)} ms`).join(', ')}`)
  t.same(
    answers.map((a) => a.status ?? a.error),
    [200, 200, 200, 200, 200, 200],
    'every predict in flight at the signals got a 200',
  )
  t.ok(answers.filter((a) => a.at > signalledAt).length >= 3, 'at least the three still uploading were answered after the signal')
  const said = messages(server)
  t.equal(
    said.filter((m) => m === 'shutting down').length,
    1,
    `"shutting down" logged once (${said.filter((m) => /shutting|closed/.test(String(m))).join('; ')})`,
  )
  t.ok(said.includes('already shutting down; the drain goes on'), 'the repeated signal joined the drain')
  t.equal(server.logs().find((l) => l.msg === 'closed')?.exit_code, 0, 'the server closed everything')
  t.same(exit, { code: 0, signal: null }, 'npm exits 0, with the server') || t.comment(server.output().slice(-4000))
})

t.test('npm start, npm killed alone: the orphaned server drains and exits', async (t) => {
  const server = await start(t, env(t), { npm: true })
  await waitReady(server, 60_000)
  const pid = server.logs().find((l) => typeof l.pid === 'number')?.pid
  t.type(pid, 'number', 'the server logged its pid')
  t.not(pid, server.proc.pid, 'the server is a child of npm, not npm itself')
  server.proc.kill('SIGKILL')
  await server.exited
  const alive = () => {
    try {
      process.kill(pid as number, 0)
      return true
    } catch {
      return false
    }
  }
  const deadline = Date.now() + 20_000
  while (alive() && Date.now() < deadline) await sleep(100)
  t.notOk(alive(), 'the server exited after npm was killed')
  const said = messages(server)
  t.ok(said.includes('the parent process (npm) went away'), 'it said why')
  t.ok(said.includes('shutting down') && said.includes('closed'), 'it drained')
})

t.test('node directly, no delay, a busy loop: predicts sent 20 ms before SIGTERM are all answered (5 runs)', async (t) => {
  for (let run = 1; run <= 5; run++) {
    const server = await start(t, env(t))
    await waitReady(server, 60_000)
    // A 2000-sample predict first: while the server parses it, the six others connect and send.
    const blocker = predict(server.port, digitsBody(2000, run))
    await blocker.sent
    const bodies = Array.from({ length: 6 }, (_, i) => digitsBody(5, i + run))
    const calls = [blocker, ...bodies.map((body) => predict(server.port, body))]
    await Promise.all(calls.map((c) => c.sent))
    await sleep(20)
    server.proc.kill('SIGTERM')
    const answers = await Promise.all(calls.map((c) => c.answer))
    const exit = await server.exited
    t.same(
      answers.map((a) => a.status ?? a.error),
      [200, 200, 200, 200, 200, 200, 200],
      `run ${run}: the large one and all six answered 200`,
    ) || t.comment(server.output().slice(-3000))
    t.same(exit, { code: 0, signal: null }, `run ${run}: exits 0`) || t.comment(server.output().slice(-3000))
  }
})
