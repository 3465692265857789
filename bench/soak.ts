// Soak: calserve under high-concurrency predict load for minutes, with a calibration change every
// second. Not a test (speed and stamina are proven in bench/, not by timed assertions):
//
//   npx tsx bench/soak.ts [--seconds 300] [--replicas 1|3] [--connections 64] [--out bench/results]
//
// One replica runs on a fresh SQLite file; three run on a fresh PostgreSQL schema
// (CALSERVE_SOAK_PG_URL, default postgres://postgres@127.0.0.1:5432/test; dropped afterwards), each
// with its own share of the connections. The demo model digits-finetuned serves real samples from
// examples/digits/data/test.ndjson, one per request.
//
// What it checks, and reports in bench/results/soak-<date>.md (and .json):
// - errors by kind: socket errors, timeouts, and non-2xx by status, with shed 503s (overload,
//   Retry-After) counted apart. Anything but a 200 or a shed 503 is an error;
// - RSS of every replica, sampled every second: start (after a warm-up), end, max, and the mean of
//   the first and last fifth of the run (flat: the last within 20% of the first);
// - calibration versions never go backwards: polled on every replica (GET …/calibration) every
//   250 ms; read from every predict answer of two sequential probe loops per replica; and read from
//   every autocannon predict answer, per connection, within each pass over the 64 request bodies
//   (autocannon resets a connection's context after each pass), since one connection's answers
//   are sequential and the versions they applied must not decrease;
// - every PUT (one a second, round-robin over the replicas, with the admin token) answers 200, and
//   afterwards the history holds versions 1..N with no gap.
// Exit code 1 if any check failed.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import pg from 'pg'
import { rssOf, startCalserve, type ServerChild } from './lib/child.js'

const ROOT = resolve(import.meta.dirname, '..')
const MODEL = 'digits-finetuned'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    replicas: { type: 'string', default: '1' },
    connections: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '10' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write('npx tsx bench/soak.ts [--seconds 300] [--replicas 1|3] [--connections 64] [--warmup 10] [--out bench/results]\n')
  process.exit(0)
}
const seconds = Number(args.seconds)
const replicas = Number(args.replicas)
const connections = Number(args.connections)
const warmupS = Number(args.warmup)
if (!(seconds > 0) || ![1, 3].includes(replicas) || !(connections >= replicas) || !(warmupS >= 0)) {
  process.stderr.write('--seconds > 0, --replicas 1 or 3, --connections ≥ replicas, --warmup ≥ 0\n')
  process.exit(2)
}

const ADMIN = `soak-${randomBytes(12).toString('hex')}`
const log = (s: string) => process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`)

// ---------------------------------------------------------------------------------------------
// The store and the replicas.

interface Store {
  url: string
  describe: string
  cleanup(): Promise<void>
}

async function makeStore(): Promise<Store> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  if (replicas === 1) {
    const file = join(ROOT, 'bench/tmp/store', `soak-${stamp}.db`)
    mkdirSync(join(ROOT, 'bench/tmp/store'), { recursive: true })
    return { url: `sqlite:${file}`, describe: `SQLite ${file}`, cleanup: async () => {} }
  }
  const base = process.env.CALSERVE_SOAK_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const schema = `calserve_soak_${randomBytes(5).toString('hex')}`
  const u = new URL(base)
  u.searchParams.set('schema', schema)
  return {
    url: u.toString(),
    describe: `PostgreSQL ${u.host}${u.pathname}, schema ${schema}`,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: base })
      c.on('error', () => {})
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => c.end())
    },
  }
}

async function startReplicas(storeUrl: string): Promise<ServerChild[]> {
  const servers: ServerChild[] = []
  for (let i = 0; i < replicas; i++) {
    servers.push(
      await startCalserve({
        name: `soak-replica-${i}`,
        root: ROOT,
        logDir: join(ROOT, 'bench/tmp/logs'),
        env: {
          CALSERVE_MODEL_REPOSITORY: join(ROOT, 'models'),
          CALSERVE_STORE_URL: storeUrl,
          CALSERVE_LOG_LEVEL: 'warn',
          CALSERVE_ADMIN_TOKENS: `soak:${ADMIN}`,
          CALSERVE_RECONCILE_MS: '1000',
        },
      }),
    )
  }
  return servers
}

// ---------------------------------------------------------------------------------------------
// Load, writes, polls and samples.

interface ConnectionState {
  replica: number
  last: number
}

const checks = {
  backwards: [] as string[],
  putFailures: [] as string[],
  badBodies: 0,
}

function samples(): string[] {
  return readFileSync(join(ROOT, 'examples/digits/data/test.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, 64)
    .map((line) => JSON.stringify({ inputs: [(JSON.parse(line) as { input: number[] }).input] }))
}

function loadReplica(server: ServerChild, index: number, conns: number, durationS: number, bodies: string[], track: boolean) {
  const reqErrors = new Map<string, number>()
  const onResponse = (status: number, body: string, context: Record<string, unknown>) => {
    if (!track || status !== 200) return
    let state = context.soak as ConnectionState | undefined
    if (!state) {
      state = { replica: index, last: 0 }
      context.soak = state
    }
    let version: number
    try {
      version = (JSON.parse(body) as { calibration: { version: number } }).calibration.version
    } catch {
      checks.badBodies++
      return
    }
    if (version < state.last) checks.backwards.push(`replica ${index}, a connection: predict applied version ${version} after ${state.last}`)
    state.last = version
  }
  const instance = autocannon(
    {
      url: server.baseUrl,
      connections: conns,
      duration: durationS,
      timeout: 30,
      requests: bodies.map((body) => ({
        method: 'POST',
        path: `/v1/models/${MODEL}/predict`,
        headers: { 'content-type': 'application/json' },
        body,
        onResponse,
      })),
    },
    () => {},
  )
  instance.on('reqError', (err: NodeJS.ErrnoException) => {
    const kind = err.code ?? err.name
    reqErrors.set(kind, (reqErrors.get(kind) ?? 0) + 1)
  })
  const done = new Promise<autocannon.Result>((res) => instance.once('done', res))
  return { done, reqErrors }
}

async function getVersion(server: ServerChild): Promise<number | null> {
  try {
    const res = await fetch(`${server.baseUrl}/v1/models/${MODEL}/calibration`, { signal: AbortSignal.timeout(5000) })
    if (res.status !== 200) return null
    return ((await res.json()) as { version: number }).version
  } catch {
    return null
  }
}

interface RssSeries {
  at: number[]
  bytes: number[]
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const store = await makeStore()
  log(`${replicas} replica(s) on ${store.describe}; ${connections} connections; ${seconds} s after a ${warmupS} s warm-up`)
  const servers = await startReplicas(store.url)
  const bodies = samples()
  const started = new Date()
  let failed: boolean
  try {
    // Warm-up: JIT, buffers, batcher; not measured.
    if (warmupS > 0) {
      log('warm-up')
      await Promise.all(servers.map((s, i) => loadReplica(s, i, Math.max(1, Math.floor(connections / replicas)), warmupS, bodies, false).done))
    }

    const rss: RssSeries[] = servers.map(() => ({ at: [], bytes: [] }))
    const polled: Array<{ last: number; polls: number; failures: number }> = servers.map(() => ({ last: 0, polls: 0, failures: 0 }))
    const puts = { sent: 0, ok: 0, byStatus: new Map<string, number>() }
    let running = true
    const t0 = performance.now()

    const sampler = (async () => {
      while (running) {
        const at = (performance.now() - t0) / 1000
        await Promise.all(
          servers.map(async (s, i) => {
            const b = await rssOf(s.pid)
            if (b !== null) {
              rss[i]!.at.push(at)
              rss[i]!.bytes.push(b)
            }
          }),
        )
        await sleep(1000)
      }
    })()
    const poller = (async () => {
      while (running) {
        await Promise.all(
          servers.map(async (s, i) => {
            const v = await getVersion(s)
            const p = polled[i]!
            p.polls++
            if (v === null) return void p.failures++
            if (v < p.last) checks.backwards.push(`replica ${i}: GET calibration answered version ${v} after ${p.last}`)
            p.last = Math.max(p.last, v)
          }),
        )
        await sleep(250)
      }
    })()
    // Sequential observers: each predict answer's version must be ≥ the previous one's.
    const probes = { requests: 0, failures: 0 }
    const probeLoops = servers.flatMap((s, i) =>
      [0, 1].map(async (p) => {
        let last = 0
        let k = p
        while (running) {
          probes.requests++
          try {
            const res = await fetch(`${s.baseUrl}/v1/models/${MODEL}/predict`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: bodies[k++ % bodies.length]!,
              signal: AbortSignal.timeout(30_000),
            })
            if (res.status !== 200) {
              await res.body?.cancel()
              if (res.status !== 503) probes.failures++
              continue
            }
            const v = ((await res.json()) as { calibration: { version: number } }).calibration.version
            if (v < last) checks.backwards.push(`replica ${i}, probe ${p}: predict applied version ${v} after ${last}`)
            last = Math.max(last, v)
          } catch {
            probes.failures++
          }
        }
      }),
    )
    const writer = (async () => {
      let k = 0
      while (running) {
        const tick = performance.now()
        const s = servers[k % servers.length]!
        k++
        puts.sent++
        const gamma = Math.round((Math.sin(k) * 5 + 5) * 1000) / 1000
        try {
          const res = await fetch(`${s.baseUrl}/v1/models/${MODEL}/calibration`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
            body: JSON.stringify({ gamma, note: `soak ${k}` }),
            signal: AbortSignal.timeout(10_000),
          })
          const key = String(res.status)
          puts.byStatus.set(key, (puts.byStatus.get(key) ?? 0) + 1)
          if (res.status === 200) puts.ok++
          else checks.putFailures.push(`PUT ${k} → ${res.status} ${(await res.text()).slice(0, 200)}`)
        } catch (err) {
          const key = (err as Error).name
          puts.byStatus.set(key, (puts.byStatus.get(key) ?? 0) + 1)
          checks.putFailures.push(`PUT ${k} → ${(err as Error).message}`)
        }
        await sleep(Math.max(0, 1000 - (performance.now() - tick)))
      }
    })()

    log('measuring')
    const per = Math.floor(connections / replicas)
    const loads = servers.map((s, i) => loadReplica(s, i, i === 0 ? connections - per * (replicas - 1) : per, seconds, bodies, true))
    const progress = setInterval(() => {
      const mb = rss.map((r) => ((r.bytes.at(-1) ?? 0) / 2 ** 20).toFixed(0)).join('/')
      log(`${Math.round((performance.now() - t0) / 1000)} s: RSS ${mb} MiB, versions ${polled.map((p) => p.last).join('/')}, PUTs ${puts.ok}/${puts.sent}`)
    }, 30_000)
    const results = await Promise.all(loads.map((l) => l.done))
    clearInterval(progress)
    running = false
    await Promise.all([sampler, poller, writer, ...probeLoops])
    const elapsed = (performance.now() - t0) / 1000

    // Let the last change reach every replica, then compare the history with the PUTs.
    await sleep(1500)
    const finalVersions = await Promise.all(servers.map(getVersion))
    // The whole history, page by page (a page holds at most 500 versions).
    const versions: number[] = []
    for (let before: number | null = null, first = true; first || before !== null; first = false) {
      const url = `${servers[0]!.baseUrl}/v1/models/${MODEL}/calibration/history?limit=500${before === null ? '' : `&before=${before}`}`
      const page = (await (await fetch(url)).json()) as { versions: Array<{ version: number }>; next: number | null }
      versions.push(...page.versions.map((v) => v.version))
      before = page.next
    }
    const gapless = versions.length === puts.ok && versions.every((v, i) => v === versions.length - i)
    const agree = finalVersions.every((v) => v === versions.length)

    // Tally.
    const status: Record<string, number> = {}
    let ok = 0
    let shed = 0
    let otherNon2xx = 0
    let socketErrors = 0
    let timeouts = 0
    const errorKinds: Record<string, number> = {}
    results.forEach((r, i) => {
      for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
        status[code] = (status[code] ?? 0) + count
        if (code === '200') ok += count
        else if (code === '503') shed += count
        else otherNon2xx += count
      }
      socketErrors += r.errors - r.timeouts
      timeouts += r.timeouts
      for (const [k, n] of loads[i]!.reqErrors) errorKinds[k] = (errorKinds[k] ?? 0) + n
    })
    const rssSummary = rss.map((r) => summariseRss(r))
    const rssFlat = rssSummary.every((s) => s.flat)
    const errorsOk = otherNon2xx === 0 && socketErrors === 0 && timeouts === 0 && checks.badBodies === 0 && probes.failures === 0
    const putsOk = checks.putFailures.length === 0
    const monotonic = checks.backwards.length === 0
    failed = !(errorsOk && putsOk && monotonic && gapless && agree && rssFlat)

    const report = {
      started: started.toISOString(),
      seconds_requested: seconds,
      seconds_measured: Math.round(elapsed * 10) / 10,
      replicas,
      store: store.describe.replace(ROOT + '/', ''),
      connections,
      model: MODEL,
      machine: machine(),
      predict: {
        ok,
        rps: Math.round((ok / elapsed) * 10) / 10,
        shed_503: shed,
        other_non2xx: otherNon2xx,
        socket_errors: socketErrors,
        timeouts,
        error_kinds: errorKinds,
        status_codes: status,
        latency_ms: results.map((r) => ({ p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max })),
        unreadable_bodies: checks.badBodies,
        probe_requests: probes.requests,
        probe_failures: probes.failures,
      },
      calibration: {
        puts_sent: puts.sent,
        puts_ok: puts.ok,
        put_statuses: Object.fromEntries(puts.byStatus),
        put_failures: checks.putFailures.slice(0, 20),
        polls: polled.map((p) => ({ polls: p.polls, failures: p.failures, last: p.last })),
        final_versions: finalVersions,
        history_versions: versions.length,
        history_gapless: gapless,
        replicas_agree: agree,
        went_backwards: checks.backwards.slice(0, 20),
        went_backwards_count: checks.backwards.length,
      },
      rss: rssSummary,
      verdict: {
        errors_only_shed_503: errorsOk,
        every_put_ok: putsOk,
        versions_monotonic: monotonic,
        history_gapless: gapless && agree,
        rss_flat: rssFlat,
        pass: !failed,
      },
    }
    const stamp = started
      .toISOString()
      .slice(0, 16)
      .replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''))
    mkdirSync(args.out, { recursive: true })
    const base = join(args.out, `soak-${stamp}-${replicas}r-${Math.round(seconds)}s`)
    writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + '\n')
    writeFileSync(`${base}.md`, markdown(report))
    log(`wrote ${base}.md`)
    process.stdout.write(markdown(report))
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    await store.cleanup().catch((err: unknown) => log(`could not clean up the store: ${(err as Error).message}`))
  }
  process.exitCode = failed ? 1 : 0
}

function summariseRss(r: RssSeries) {
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10
  const n = r.bytes.length
  const fifth = Math.max(1, Math.floor(n / 5))
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
  const first = mean(r.bytes.slice(0, fifth))
  const last = mean(r.bytes.slice(n - fifth))
  return {
    samples: n,
    start_mib: mib(r.bytes[0] ?? 0),
    end_mib: mib(r.bytes.at(-1) ?? 0),
    max_mib: mib(Math.max(0, ...r.bytes)),
    first_fifth_mean_mib: mib(first),
    last_fifth_mean_mib: mib(last),
    growth_pct: Math.round(((last - first) / first) * 1000) / 10,
    flat: last <= first * 1.2,
  }
}

function machine(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown CPU'
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0
  return `${cores} × ${cpus}, Node ${process.version}`
}

function markdown(r: any): string {
  const yes = (b: boolean) => (b ? 'yes' : '**NO**')
  const lines = [
    `# Soak ${r.started.slice(0, 16).replace('T', ' ')} UTC — ${r.replicas} replica(s), ${r.seconds_measured} s`,
    '',
    `\`npx tsx bench/soak.ts --seconds ${r.seconds_requested} --replicas ${r.replicas} --connections ${r.connections}\` on ${r.machine}; store ${r.store}; model \`${r.model}\`, one sample per request; a calibration PUT every second.`,
    '',
    '| check | result |',
    '|---|---|',
    `| errors other than shed 503s | ${yes(r.verdict.errors_only_shed_503)} — ${r.predict.other_non2xx} non-2xx other than 503, ${r.predict.socket_errors} socket errors, ${r.predict.timeouts} timeouts |`,
    `| every calibration PUT answered 200 | ${yes(r.verdict.every_put_ok)} — ${r.calibration.puts_ok} of ${r.calibration.puts_sent} |`,
    `| calibration versions never went backwards (polls and predict answers) | ${yes(r.verdict.versions_monotonic)} — ${r.calibration.went_backwards_count} regressions |`,
    `| history is 1..N with no gap, every replica at N | ${yes(r.verdict.history_gapless)} — N = ${r.calibration.history_versions}, replicas at ${r.calibration.final_versions.join(', ')} |`,
    `| RSS flat (last fifth within 20% of the first) | ${yes(r.verdict.rss_flat)} |`,
    '',
    `Predict (autocannon): ${r.predict.ok} × 200 (${r.predict.rps}/s), ${r.predict.shed_503} shed 503s; status codes ${JSON.stringify(r.predict.status_codes)}` +
      (Object.keys(r.predict.error_kinds).length ? `; socket errors ${JSON.stringify(r.predict.error_kinds)}` : '') +
      `. Probe loops: ${r.predict.probe_requests} sequential predicts, ${r.predict.probe_failures} failures.`,
    '',
    '| replica | latency p50 / p90 / p99 / max (ms) | RSS start | RSS end | RSS max | first-fifth mean | last-fifth mean | growth |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...r.rss.map(
      (s: any, i: number) =>
        `| ${i} | ${r.predict.latency_ms[i].p50} / ${r.predict.latency_ms[i].p90} / ${r.predict.latency_ms[i].p99} / ${r.predict.latency_ms[i].max} | ${s.start_mib} MiB | ${s.end_mib} MiB | ${s.max_mib} MiB | ${s.first_fifth_mean_mib} MiB | ${s.last_fifth_mean_mib} MiB | ${s.growth_pct}% |`,
    ),
    '',
    `**${r.verdict.pass ? 'PASS' : 'FAIL'}**`,
    '',
  ]
  if (r.calibration.put_failures.length) lines.push('PUT failures (first 20):', '', ...r.calibration.put_failures.map((f: string) => `- ${f}`), '')
  if (r.calibration.went_backwards.length) lines.push('Regressions (first 20):', '', ...r.calibration.went_backwards.map((f: string) => `- ${f}`), '')
  return lines.join('\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
