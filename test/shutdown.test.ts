// The drain's sequencing (src/shutdown.ts) with steps that record what they are asked, on real
// timers: one drain however often it is asked for, the grace end, the backstop, the exit codes.
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { drainer, type DrainSteps } from '../src/shutdown.js'

function harness(close: () => Promise<void>, graceMs = 100) {
  const calls: string[] = []
  const exits: number[] = []
  const lines: Array<{ msg: string }> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string })
      done()
    },
  })
  const steps: DrainSteps = {
    begin: () => calls.push('begin'),
    close: () => (calls.push('close'), close()),
    expire: () => calls.push('expire'),
  }
  const drain = drainer(steps, { delayMs: 0, graceMs, log: pino(sink), exit: (code) => exits.push(code) })
  return { drain, calls, exits, messages: () => lines.map((l) => l.msg) }
}

t.test('a repeated signal joins the drain: one begin, one close, one exit 0', async (t) => {
  const h = harness(() => new Promise((r) => setTimeout(r, 30)))
  const first = h.drain.stop({ signal: 'SIGTERM' })
  const second = h.drain.stop({ signal: 'SIGTERM' })
  const third = h.drain.stop({ signal: 'SIGINT' })
  t.same(await Promise.all([first, second, third]), [0, 0, 0])
  t.same(h.calls, ['begin', 'close'])
  t.same(h.exits, [0])
  t.same(h.messages(), ['shutting down', 'already shutting down; the drain goes on', 'already shutting down; the drain goes on', 'closed'])
})

t.test('a close that outlasts the grace: expire at the grace end, exit 1 at twice it', async (t) => {
  const h = harness(() => new Promise(() => {}), 100)
  const t0 = performance.now()
  void h.drain.stop({ signal: 'SIGTERM' })
  while (h.exits.length === 0 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10))
  const ms = performance.now() - t0
  t.same(h.calls, ['begin', 'close', 'expire'], 'the unanswered connections were closed at the grace end')
  t.same(h.exits, [1], 'then the backstop exited 1')
  t.ok(ms >= 190, `not before twice the grace (${Math.round(ms)} ms)`)
})

t.test('a close done within the grace clears the timers; an error drains and exits 1', async (t) => {
  const h = harness(() => Promise.resolve(), 50)
  t.equal(await h.drain.stop({ err: new Error('boom') }), 1)
  await new Promise((r) => setTimeout(r, 150))
  t.same(h.calls, ['begin', 'close'], 'no expire after the close')
  t.same(h.exits, [1], 'one exit, 1 after an error')
  t.equal(h.messages()[0], 'shutting down after an error')
})
