// Servers under test run as child processes, so the load generator never shares their event loop.
// Each child is `node --import tsx <script>` started directly (no shell, no npx; through taskset
// when pinned, which execs), so its pid is the server's own and /proc/<pid>/stat and /status give
// the server's CPU time and RSS. Its stdout and stderr go straight to a log file (the child holds
// the file descriptor): the bench process never copies log lines on the server's behalf.
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../../test/support/ports.js'
import { pinned } from './cpu.js'

export interface ServerChild {
  name: string
  pid: number
  port: number
  /** calserve's gRPC port, where the server has one. */
  grpcPort?: number
  baseUrl: string
  logFile: string
  stop(): Promise<void>
  logTail(lines?: number): Promise<string>
}

export interface StartOptions {
  name: string
  script: string
  args?: string[]
  env?: Record<string, string>
  /** Path polled until it answers 200. */
  readyPath: string
  port: number
  logDir: string
  /** CPU list to pin the server to (taskset -c); null or absent: not pinned. */
  cpus?: string | null
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[]
  timeoutMs?: number
}

export async function startServer(opts: StartOptions): Promise<ServerChild> {
  await mkdir(opts.logDir, { recursive: true })
  const logFile = join(opts.logDir, `${opts.name}.log`)
  const fd = openSync(logFile, 'w')
  // TypeScript through tsx's loader; compiled JavaScript (dist/) as node runs it.
  const loader = opts.script.endsWith('.ts') ? ['--import', 'tsx'] : []
  const [cmd, args] = pinned(opts.cpus ?? null, process.execPath, [...(opts.nodeArgs ?? []), ...loader, opts.script, ...(opts.args ?? [])])
  const child: ChildProcess = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      resolve()
    }),
  )
  const baseUrl = `http://127.0.0.1:${opts.port}`
  const logTail = async (lines = 20): Promise<string> => {
    const text = await readFile(logFile, 'utf8').catch(() => '')
    return text.trimEnd().split('\n').slice(-lines).join('\n')
  }
  const stop = async (): Promise<void> => {
    if (exited) return
    child.kill('SIGTERM')
    const done = await Promise.race([exit.then(() => true), sleep(15_000).then(() => false)])
    if (!done) {
      child.kill('SIGKILL')
      await exit
    }
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    if (exited) {
      const e = exited as { code: number | null; signal: NodeJS.Signals | null }
      throw new Error(`${opts.name} exited (code ${e.code}, signal ${e.signal}) before it was ready; log ${logFile}:\n${await logTail()}`)
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(
        `${opts.name} was not ready at ${baseUrl}${opts.readyPath} after ${(opts.timeoutMs ?? 120_000) / 1000} s; log ${logFile}:\n${await logTail()}`,
      )
    }
    const ok = await fetch(baseUrl + opts.readyPath, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    await sleep(100)
  }
  return { name: opts.name, pid: child.pid!, port: opts.port, baseUrl, logFile, stop, logTail }
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (Linux); null if unreadable. */
export interface CalserveOptions extends Omit<StartOptions, 'script' | 'port' | 'readyPath'> {
  /** The checkout whose src/main.ts runs (a bench variant may name another); default this one. */
  root?: string
  /** Run the checkout's compiled dist/main.js (as the container does) instead of src/main.ts through tsx. */
  compiled?: boolean
  /** Serve gRPC on a free port (never the default 8081, which another calserve may hold); default off. */
  grpc?: boolean
}

/**
 * calserve on loopback and a free port, ready once /health/ready answers: gRPC off unless asked,
 * no readiness pause when stopped (the 5 s default is for load balancers); `env` adds the rest and
 * may override these.
 */
export async function startCalserve(opts: CalserveOptions): Promise<ServerChild> {
  const { root = '.', grpc = false, compiled = false, env, ...rest } = opts
  const port = await freePort()
  const grpcPort = grpc ? await freePort() : 0
  const child = await startServer({
    ...rest,
    script: join(root, compiled ? 'dist/main.js' : 'src/main.ts'),
    port,
    readyPath: '/health/ready',
    env: {
      CALSERVE_HOST: '127.0.0.1',
      CALSERVE_PORT: String(port),
      CALSERVE_GRPC_PORT: String(grpcPort),
      CALSERVE_SHUTDOWN_DELAY_MS: '0',
      ...env,
    },
  })
  return grpc ? { ...child, grpcPort } : child
}

export async function rssOf(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null)
  const m = text?.match(/^VmRSS:\s+(\d+)\s+kB/m)
  return m ? Number(m[1]) * 1024 : null
}
