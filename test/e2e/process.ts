// Starting the real calserve process for end-to-end tests: `node --import tsx src/main.ts` (or
// `npm start`) with a CALSERVE_* environment, on a free port picked here, its output kept for failure messages.
//
//   const server = await start(t, { CALSERVE_STORE_URL: `sqlite:${file}` })
//   await waitReady(server)
//   await fetch(`${server.url}/v1/models`)
//   const { code } = await stop(server)        // SIGTERM, then waits for exit
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { freePort } from '../support/ports.js'

export const REPO_ROOT = resolve(import.meta.dirname, '../..')

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Server {
  proc: ChildProcess
  port: number
  url: string
  /** Everything the process wrote so far, stdout and stderr interleaved. */
  output(): string
  /** The JSON log lines from stdout, parsed (other lines skipped). */
  logs(): Array<Record<string, unknown>>
  /** Settles when the process exits. */
  exited: Promise<Exit>
}

/**
 * Spawns calserve. The defaults serve the fixture models on loopback with info logs; `env` adds to
 * or overrides them (give CALSERVE_STORE_URL; the default would be ./data). Killed on teardown if
 * the test left it running.
 */
export async function start(t: Teardown, env: Record<string, string>, opts: { port?: number; npm?: boolean; cpus?: string } = {}): Promise<Server> {
  const port = opts.port ?? (await freePort())
  // With `npm`: `npm start` in a process group of its own, as a terminal or a supervisor runs it
  // (proc is npm; a signal to -proc.pid reaches the whole group).
  const [command, args] = opts.npm ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/main.ts']]
  // With `cpus`: under `taskset -c <cpus>`, as a container's cpuset runs it (taskset execs, so the pid is calserve's).
  const [file, argv] = opts.cpus ? ['taskset', ['-c', opts.cpus, command, ...args]] : [command, args]
  const proc = spawn(file, argv, {
    cwd: REPO_ROOT,
    detached: opts.npm ?? false,
    env: {
      ...cleanEnv(),
      CALSERVE_HOST: '127.0.0.1',
      CALSERVE_PORT: String(port),
      // No gRPC listener unless a test asks for one: the default port 8081 would be shared by every process.
      CALSERVE_GRPC_PORT: '0',
      CALSERVE_MODEL_REPOSITORY: 'test/fixtures/models',
      CALSERVE_LOG_LEVEL: 'info',
      // No readiness pause before the listener closes (the default, 5 s, is for load balancers).
      CALSERVE_SHUTDOWN_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let stdout = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => ((out += d), (stdout += d)))
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<Exit>((res) => proc.once('exit', (code, signal) => res({ code, signal })))
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await exited
    }
    // npm's children may outlive it.
    if (opts.npm) {
      try {
        process.kill(-proc.pid!, 'SIGKILL')
      } catch {
        // the group is gone
      }
    }
  })
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    logs: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>]
          } catch {
            return []
          }
        }),
    exited,
  }
}

/** This process's environment without the test runner's loaders and settings, nor any CALSERVE_*. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NODE_OPTIONS$|TAP|_TAPJS|CALSERVE_)/.test(k)))
}

/** Polls /health/ready until it answers 200; throws with the process output if it exits or times out. */
export async function waitReady(server: Server, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  let exit: Exit | undefined
  void server.exited.then((e) => (exit = e))
  while (Date.now() < deadline) {
    if (exit) throw new Error(`calserve exited (${JSON.stringify(exit)}) before it was ready:\n${server.output()}`)
    try {
      const res = await fetch(`${server.url}/health/ready`, { signal: AbortSignal.timeout(2000) })
      if (res.status === 200) return (await res.json()) as Record<string, unknown>
      await res.body?.cancel()
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`calserve was not ready within ${timeoutMs} ms:\n${server.output()}`)
}

/** Sends `signal` (SIGTERM by default) and waits for the exit; SIGKILLs after `timeoutMs`. */
export async function stop(server: Server, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<Exit> {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return server.exited
  server.proc.kill(signal)
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), timeoutMs)
  try {
    return await server.exited
  } finally {
    clearTimeout(timer)
  }
}

/** fetch with a JSON body; answers status and parsed JSON (or text). */
export async function call(server: Server, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  let json: unknown = undefined
  try {
    json = JSON.parse(text)
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, json, text }
}
