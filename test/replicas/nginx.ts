// Real nginx for the replica tests: renders deploy/nginx.conf (the file docker compose mounts) for
// loopback, checks it with `nginx -t` and runs it as a non-daemon child process.
//
//   const conf = renderNginxConf({ dir, listenPort, upstreamPorts: [a, b, c] })
//   const nginx = await startNginx(t, { dir, listenPort, upstreamPorts })   // stopped on teardown
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { delimiter, join, resolve } from 'node:path'

export const NGINX_CONF = resolve(import.meta.dirname, '../../deploy/nginx.conf')

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The nginx binary: $NGINX, Debian's /usr/sbin/nginx, or one on the PATH; null when none. */
export function findNginx(): string | null {
  const candidates = [
    process.env.NGINX,
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nginx')),
  ]
  for (const c of candidates) {
    if (!c) continue
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // not there
    }
  }
  return null
}

/** Whether `nginx -v` runs: answers null when it does, else why not. */
export function nginxRuns(nginx: string): string | null {
  const r = spawnSync(nginx, ['-v'], { encoding: 'utf8', timeout: 10_000 })
  return r.status === 0 ? null : `${nginx} -v: ${r.error ? String(r.error) : `exit ${r.status} ${r.stderr ?? ''}`}`
}

export interface NginxOptions {
  /** A folder of its own: the rendered config, logs, pid and temp files go there. */
  dir: string
  listenPort: number
  /** The replicas' ports on 127.0.0.1, in place of calserve-1..N:8080. */
  upstreamPorts: number[]
  /** gRPC: nginx's port and the replicas' (calserve-N:8081); without them the gRPC block is left out. */
  grpc?: { listenPort: number; upstreamPorts: number[] }
}

/**
 * deploy/nginx.conf with the compose names swapped for loopback: the `server calserve-N:8080`
 * lines (one per replica, in every upstream block), the listen port, the access log, and temp
 * paths inside `dir` (the packaged ones may not be writable). Throws when the file no longer has
 * what it replaces, so the test can't silently run a different config.
 */
export function renderNginxConf(opts: NginxOptions, source = readFileSync(NGINX_CONF, 'utf8')): string {
  let conf = source
  const replace = (pattern: RegExp, by: (...m: string[]) => string, what: string, count?: number) => {
    let n = 0
    conf = conf.replace(pattern, (...m: string[]) => (n++, by(...m)))
    if (n === 0 || (count !== undefined && n !== count)) throw new Error(`deploy/nginx.conf: expected ${count ?? 'some'} ${what}, found ${n}`)
  }
  const grpc = opts.grpc
  if (!grpc) replace(/^\s*# --- gRPC: begin[^]*?# --- gRPC: end ---\n/m, () => '', 'gRPC block', 1)
  else {
    replace(
      /\bserver\s+calserve-(\d+):8081\b/g,
      (_m, i) => `server 127.0.0.1:${grpc.upstreamPorts[Number(i) - 1] ?? 0}`,
      'gRPC upstream servers calserve-N:8081',
    )
    replace(/^(\s*)listen\s+8081(\s+http2)?;/gm, (_m, indent, http2) => `${indent}listen 127.0.0.1:${grpc.listenPort}${http2 ?? ''};`, 'listen 8081', 1)
  }
  const seen = new Set<number>()
  replace(
    /\bserver\s+calserve-(\d+):8080\b/g,
    (_m, i) => {
      const port = opts.upstreamPorts[Number(i) - 1]
      if (port === undefined) throw new Error(`deploy/nginx.conf names calserve-${i} but only ${opts.upstreamPorts.length} ports were given`)
      seen.add(Number(i))
      return `server 127.0.0.1:${port}`
    },
    'upstream servers calserve-N:8080',
  )
  if (seen.size !== opts.upstreamPorts.length) throw new Error(`deploy/nginx.conf names ${seen.size} replicas, the test started ${opts.upstreamPorts.length}`)
  replace(/^(\s*)listen\s+8080;/gm, (_m, indent) => `${indent}listen 127.0.0.1:${opts.listenPort};`, 'listen 8080', 1)
  replace(/^(\s*)access_log\s+\/dev\/stdout\s+calserve;/gm, (_m, indent) => `${indent}access_log ${join(opts.dir, 'access.log')} calserve;`, 'access_log', 1)
  const temp = join(opts.dir, 'temp')
  const paths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `    ${name}_temp_path ${join(temp, name)};`).join('\n')
  replace(/^http\s*\{/m, (m) => `${m}\n    # rendered for the test: temp files in its own folder\n${paths}`, 'http block', 1)
  return conf
}

/** Writes the rendered config and the folders it names; answers nginx's -p and -c arguments. */
function prepare(opts: NginxOptions): string[] {
  const temp = join(opts.dir, 'temp')
  mkdirSync(temp, { recursive: true })
  // As root, nginx's workers run as an unprivileged user: they must reach the temp folders.
  chmodSync(opts.dir, 0o755)
  chmodSync(temp, 0o777)
  const conf = join(opts.dir, 'nginx.conf')
  writeFileSync(conf, renderNginxConf(opts))
  return ['-p', opts.dir, '-c', conf]
}

/** What the test sets in the main context (deploy/nginx.conf leaves them out). */
const globals = (opts: NginxOptions, extra = '') => `${extra}pid ${join(opts.dir, 'nginx.pid')}; error_log ${join(opts.dir, 'error.log')} info;`

/** `nginx -t` on the rendered config: answers null when it passes, else nginx's output. */
export function checkNginxConf(nginx: string, opts: NginxOptions): string | null {
  const r = spawnSync(nginx, ['-t', ...prepare(opts), '-g', globals(opts)], { encoding: 'utf8', timeout: 10_000 })
  return r.status === 0 ? null : `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`
}

export interface Nginx {
  proc: ChildProcess
  url: string
  dir: string
  /** Everything it wrote to stdout and stderr. */
  output(): string
  /** The access log lines so far (log_format calserve). */
  accessLog(): AccessLine[]
  stop(): Promise<void>
}

export interface AccessLine {
  method: string
  path: string
  status: number
  /** Every upstream tried, in order ("127.0.0.1:1234"); more than one means nginx moved on. */
  upstreams: string[]
}

export function parseAccessLog(text: string): AccessLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const m = /"(\S+) (\S+) [^"]*" (\d{3}) \d+ upstream=(.*?) upstream_status=/.exec(line)
      if (!m) return []
      const upstreams = m[4] === '-' ? [] : m[4]!.split(/\s*[,:]\s+/).filter((u) => u && u !== '-')
      return [{ method: m[1]!, path: m[2]!, status: Number(m[3]), upstreams }]
    })
}

/** Starts nginx in the foreground on 127.0.0.1:listenPort and waits until it accepts. */
export async function startNginx(t: Teardown, nginx: string, opts: NginxOptions): Promise<Nginx> {
  const args = [...prepare(opts), '-g', globals(opts, 'daemon off; master_process on; ')]
  // Its own process group, so the workers go too if the master has to be killed.
  const proc = spawn(nginx, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<void>((res) => proc.once('exit', () => res()))
  const alive = () => proc.exitCode === null && proc.signalCode === null
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (proc.pid) process.kill(-proc.pid, signal)
    } catch {
      // already gone
    }
  }
  // Should the test process die without its teardown, nginx must not outlive it.
  const onExit = () => killGroup('SIGKILL')
  process.once('exit', onExit)
  const stop = async () => {
    process.off('exit', onExit)
    if (alive()) {
      proc.kill('SIGTERM') // fast shutdown: the master stops its workers
      const timer = setTimeout(() => killGroup('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    killGroup('SIGKILL') // any worker left behind
  }
  t.teardown(stop)

  const deadline = Date.now() + 10_000
  for (;;) {
    if (!alive()) throw new Error(`nginx exited at start:\n${out}\n${readSafe(join(opts.dir, 'error.log'))}`)
    if (await accepts(opts.listenPort)) break
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${opts.listenPort}:\n${out}\n${readSafe(join(opts.dir, 'error.log'))}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    proc,
    url: `http://127.0.0.1:${opts.listenPort}`,
    dir: opts.dir,
    output: () => out,
    accessLog: () => parseAccessLog(readSafe(join(opts.dir, 'access.log'))),
    stop,
  }
}

function readSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => (s.destroy(), res(true)))
    s.once('error', () => res(false))
  })
}
