// Graceful shutdown of the process: every way the process is asked to stop starts one drain, and
// asking again while it runs joins it.
//
// - SIGTERM, SIGINT and SIGHUP drain. A repeated signal is logged and changes nothing, as Triton's
//   signal handler does nothing once it is exiting: a group SIGTERM (systemd's default KillMode,
//   `docker stop` of a shell entrypoint, Ctrl-C under npm) reaches the server twice, once directly
//   and once relayed by npm, and close-with-grace, which calserve used before, exits 1 at once on
//   the second. SIGKILL is what forces an exit, as Kubernetes and Docker send it after their grace.
// - An uncaught error drains too, then exits 1.
// - Under an npm script, the parent going away drains: npm relays SIGTERM and SIGINT, but an npm
//   killed with SIGKILL leaves the server orphaned and still answering. The parent is watched by
//   polling process.ppid, which changes when the parent dies and the process is re-parented; it
//   needs no pipe to npm (npm gives the script the terminal's stdin, and no IPC channel).
//
// The drain itself (main.ts supplies the steps): readiness turns 503, then after `delayMs` the
// listeners close and in-flight work finishes. When `graceMs` more have passed, the connections
// that are not answering a request they received whole are closed (src/http/connections.ts); the
// answers still being computed get `graceMs` again, past which the process exits 1.
import type { FastifyBaseLogger } from 'fastify'

export interface DrainSteps {
  /** Readiness turns not-ready; everything is still served. */
  begin(): void
  /** Closes the listeners; resolves when in-flight work has finished and everything is closed. */
  close(): Promise<void>
  /** At the end of the grace period: closes what can no longer become an answer. */
  expire(): void
}

export interface DrainOptions {
  delayMs: number
  graceMs: number
  log: FastifyBaseLogger
  /** Only where the process is exiting for real: tests of the drain pass their own. */
  exit?: (code: number) => void
}

export type StopReason = { signal: NodeJS.Signals } | { err: unknown } | { parent: 'gone'; was: number; now: number }

export interface Drain {
  /** Starts the drain, or joins the one running; resolves with the exit code. */
  stop(reason: StopReason): Promise<number>
}

export function drainer(steps: DrainSteps, opts: DrainOptions): Drain {
  const exit = opts.exit ?? ((code: number) => process.exit(code))
  let running: Promise<number> | null = null
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  const run = async (reason: StopReason): Promise<number> => {
    const failed = 'err' in reason
    if (failed) opts.log.error({ err: reason.err }, 'shutting down after an error')
    else opts.log.info(reason, 'shutting down')
    steps.begin()
    if (opts.delayMs > 0) await sleep(opts.delayMs)
    const grace = setTimeout(() => {
      opts.log.warn({ grace_ms: opts.graceMs }, 'grace period over: closing the connections that are not being answered')
      steps.expire()
    }, opts.graceMs)
    const hard = setTimeout(() => {
      opts.log.error({ grace_ms: opts.graceMs }, 'killed by timeout: answers still running twice the grace period after the close')
      exit(1)
    }, 2 * opts.graceMs)
    try {
      await steps.close()
      const code = failed ? 1 : 0
      opts.log.info({ exit_code: code }, 'closed')
      return code
    } catch (err) {
      opts.log.error({ err }, 'closing failed')
      return 1
    } finally {
      clearTimeout(grace)
      clearTimeout(hard)
    }
  }

  return {
    stop(reason) {
      if (running) {
        opts.log.info(reason, 'already shutting down; the drain goes on')
        return running
      }
      running = run(reason).then((code) => {
        exit(code)
        return code
      })
      return running
    },
  }
}

/** Routes the process's signals, uncaught errors and (under npm) the parent's death to `drain.stop`. */
export function stopOnSignals(drain: Drain, log: FastifyBaseLogger): void {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void drain.stop({ signal }))
  process.on('uncaughtException', (err) => void drain.stop({ err }))
  process.on('unhandledRejection', (err) => void drain.stop({ err }))
  // npm sets npm_lifecycle_event in the environment of the scripts it runs.
  if (process.env.npm_lifecycle_event !== undefined) {
    const was = process.ppid
    const watch = setInterval(() => {
      const now = process.ppid
      if (now === was) return
      clearInterval(watch)
      log.warn({ was, now }, 'the parent process (npm) went away')
      void drain.stop({ parent: 'gone', was, now })
    }, PARENT_POLL_MS)
    watch.unref()
  }
}

/** How often the parent is checked: a getppid(2) a second costs nothing. */
const PARENT_POLL_MS = 1000
