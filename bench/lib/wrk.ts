// One benchmark cell driven by wrk (Debian's package): a fixed number of connections for a fixed
// number of seconds, on the load generator's own core, with POST bodies cycled by a Lua script.
// wrk costs a fraction of what autocannon does per request, so the server is the bottleneck.
//
// The bodies are written once per row as complete HTTP/1.1 requests (request line, headers,
// Content-Length, body: binary bodies pass through unchanged); the script reads them in init() and
// request() returns the next one. done() prints one JSON line with the counts and the latency
// percentiles (µs). The shell's `times` after wrk gives wrk's own CPU time.
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pinned } from './cpu.js'

export interface HttpRequest {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: Buffer
}

export interface WrkCell {
  connections: number
  duration_s: number
  /** 2xx (non-error) responses per second over the measured window. */
  rps: number
  ok: number
  p50_ms: number | null
  p90_ms: number | null
  p99_ms: number | null
  max_ms: number | null
  mean_ms: number | null
  /** Socket errors + timeouts + responses with status ≥ 400. */
  errors: number
  non2xx: number
  timeouts: number
  socket_errors: { connect: number; read: number; write: number }
  /** wrk's own CPU (user + system) over its wall time: near 1 means the load generator was the limit. */
  client_cpu: number | null
}

const LUA = `-- written by bench/lib/wrk.ts
local reqs = {}
local i = 0
function init(args)
  local dir, n = args[1], tonumber(args[2])
  for k = 1, n do
    local f = assert(io.open(dir .. "/" .. k .. ".http", "rb"))
    reqs[k] = f:read("*all")
    f:close()
  end
  -- threads start at different offsets so the bodies mix
  i = math.random(n) - 1
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.3f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`

/** Writes the script and the request files for one row; returns what a cell needs to run them. */
export async function prepareRequests(dir: string, hostPort: string, requests: HttpRequest[]): Promise<{ script: string; dir: string; count: number }> {
  await mkdir(dir, { recursive: true })
  const script = join(dir, 'requests.lua')
  await writeFile(script, LUA)
  await Promise.all(
    requests.map((r, k) => {
      const body = r.body ?? Buffer.alloc(0)
      const headers = { host: hostPort, ...r.headers, ...(r.method === 'POST' ? { 'content-length': String(body.byteLength) } : {}) }
      const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
      return writeFile(join(dir, `${k + 1}.http`), Buffer.concat([Buffer.from(head, 'latin1'), body]))
    }),
  )
  return { script, dir, count: requests.length }
}

export interface WrkSpec {
  baseUrl: string
  prepared: { script: string; dir: string; count: number }
  connections: number
  durationS: number
  cpus: string | null
  timeoutS?: number
}

/** Is wrk here? If not, installs it with apt-get (the bench needs root or a machine that has it). */
export function ensureWrk(say: (s: string) => void): string {
  // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" → "wrk debian/4.1.0-3+b2 [epoll]"
  const clean = (out: string) => out.split('\n')[0]!.replace(/\s*Copyright.*$/, '').trim()
  const version = () => clean(execFileSync('wrk', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))
  const tryVersion = (): string | null => {
    try {
      return version()
    } catch (err) {
      // wrk --version exits 1 after printing its banner.
      const out = (err as { stdout?: string }).stdout ?? ''
      return out.startsWith('wrk') ? clean(out) : null
    }
  }
  const have = tryVersion()
  if (have) return have
  say('wrk not found: apt-get install -y wrk')
  execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' })
  const after = tryVersion()
  if (!after) throw new Error('wrk is not installed and apt-get could not install it')
  return after
}

export function runWrk(spec: WrkSpec): Promise<WrkCell> {
  const threads = 1 // one core for the load generator: one wrk thread drives every connection
  const wrkArgs = [
    '-t', String(threads), '-c', String(spec.connections), '-d', `${Math.max(1, Math.round(spec.durationS))}s`,
    '--timeout', `${spec.timeoutS ?? 30}s`, '-s', spec.prepared.script, spec.baseUrl, '--', spec.prepared.dir, String(spec.prepared.count),
  ]
  const [cmd, args] = pinned(spec.cpus, 'wrk', wrkArgs)
  // bash's `times` prints the CPU time of the shell's children (wrk) after it exits.
  const shell = ['-c', '"$@"; rc=$?; times; exit $rc', 'bash', cmd, ...args]
  return new Promise((resolve, reject) => {
    execFile('bash', shell, { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '))
      if (err || !line) return reject(new Error(`wrk failed (${err?.message ?? 'no summary'}): ${(stderr || stdout).slice(-500)}`))
      const s = JSON.parse(line.slice(8)) as Record<string, number>
      const seconds = s['duration_us']! / 1e6
      const ok = s['requests']! - s['status']!
      const ms = (us: number) => (s['requests']! > 0 ? Math.round(us) / 1000 : null)
      resolve({
        connections: spec.connections,
        duration_s: Math.round(seconds * 1000) / 1000,
        rps: Math.round((ok / seconds) * 10) / 10,
        ok,
        p50_ms: ms(s['p50']!),
        p90_ms: ms(s['p90']!),
        p99_ms: ms(s['p99']!),
        max_ms: ms(s['max']!),
        mean_ms: ms(s['mean']!),
        errors: s['connect']! + s['read']! + s['write']! + s['status']! + s['timeout']!,
        non2xx: s['status']!,
        timeouts: s['timeout']!,
        socket_errors: { connect: s['connect']!, read: s['read']!, write: s['write']! },
        client_cpu: clientCpu(stdout, seconds),
      })
    })
  })
}

/** The second line of `times` is the children's "XmY.YYYs XmZ.ZZZs" (user, system). */
function clientCpu(stdout: string, seconds: number): number | null {
  const times = stdout.trimEnd().split('\n').slice(-1)[0] ?? ''
  const parts = [...times.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
  if (parts.length !== 2 || seconds <= 0) return null
  return Math.round(((parts[0]! + parts[1]!) / seconds) * 1000) / 1000
}
