// Markdown rendering of a run: the same tables go to the console and to bench/results/*.md.
import type { BenchResults, ModelResult, RssResult, Target } from './types.js'
import type { WrkCell } from './wrk.js'

/**
 * Triton's published per-request server overhead, for comparison with the server CPU column: the
 * perf_analyzer guide's example reports "Avg request latency: 12005 usec (overhead 36 usec + queue
 * 42 usec + compute input 164 usec + compute infer 11748 usec + compute output 15 usec)". It is
 * server time outside queue and compute (wall time, not CPU), so it compares with calserve's µs per
 * request minus the model's own cost only roughly.
 */
export const TRITON_REFERENCE = {
  overhead_us: 36,
  source:
    'Triton perf_analyzer guide, example output ("overhead 36 usec"): https://docs.nvidia.com/deeplearning/triton-inference-server/archives/triton-inference-server-2280/user-guide/docs/user_guide/perf_analyzer.html',
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function table(headers: string[], rows: string[][], align?: Array<'l' | 'r'>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length), 3))
  const a = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'))
  const pad = (s: string, i: number) => (a[i] === 'r' ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`
  const sep = `|${widths.map((w, i) => (a[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`
  return [line(headers), sep, ...rows.map(line)].join('\n')
}

export function num(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—'
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function ratio(x: number | null | undefined): string {
  return x === null || x === undefined ? '—' : `${x.toFixed(x < 0.1 ? 4 : 2)}×`
}

function pct(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '—' : `${x.toFixed(digits)}%`
}

export function renderMachine(r: BenchResults): string {
  const m = r.machine
  return [
    `- machine: ${m.cpu_model}, ${m.cores} logical cores, ${m.total_memory_gib.toFixed(1)} GiB, ${m.os} (host ${m.hostname})`,
    `- software: Node ${m.node}, onnxruntime-node ${m.onnxruntime_node} (CPU), Fastify ${m.fastify}; load generator ${m.load_generator}`,
    `- code: ${m.git_commit ? `${m.git_commit.slice(0, 12)}${m.git_dirty ? ' + uncommitted changes' : ''}` : 'unknown commit'}`,
    `- command: \`${r.command}\`${r.quick ? ' (quick smoke run: numbers are indicative only)' : ''}`,
    `- started ${r.started_at}, finished ${r.finished_at}; load average (1/5/15 min) at start ${m.loadavg_start.join(' ')}, at end ${m.loadavg_end?.join(' ') ?? '—'}` +
      (m.loadavg_start[0]! > m.cores * 0.5 ? ' — **the machine was busy with other work: numbers are noisy**' : ''),
    m.pinning.server !== null
      ? `- one server core: every server and raw onnxruntime pinned to CPU ${m.pinning.server} (taskset), wrk to CPU ${m.pinning.client}; calserve log level: ${String(r.config['calserve_log_level'])}`
      : `- **not pinned** (${m.pinning.note}): the load generator shares the server's cores; calserve log level: ${String(r.config['calserve_log_level'])}`,
  ].join('\n')
}

export function renderModel(m: ModelResult): string {
  const out: string[] = []
  out.push(`### ${m.title}`)
  out.push('')
  out.push(
    `Model \`${m.name}\`, input [N, ${m.input_shape.join(', ')}] float32, ${m.classes} classes. ` +
      `One sample per request (${m.distinct_requests} distinct bodies cycled); body sizes: ${Object.entries(m.request_bytes)
        .map(([id, b]) => `${id} ${fmtBytes(b)}`)
        .join(', ')}. ` +
      (m.rounds > 1
        ? `Each cell: ${m.rounds} rounds taking turns with the other rows', each ${m.warmup_s / m.rounds} s warm-up then ${m.duration_s / m.rounds} s measured (${m.duration_s} s in all; p50/p99 the median of the rounds').`
        : `Each cell: ${m.warmup_s} s warm-up, then ${m.duration_s} s measured.`),
  )
  out.push('')
  const rows: string[][] = []
  const cpuPct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`)
  if (m.raw.failed === null) {
    const b = m.raw.best
    rows.push([
      `raw onnxruntime, one process (best batch ${b?.batch ?? '—'})`,
      '—',
      '—',
      num(b?.samples_per_s),
      `${num(b?.ms_per_run, 2)} /run`,
      '—',
      num(b?.cpu_us_per_sample, 1),
      '—',
      '—',
      '—',
    ])
  } else rows.push(['raw onnxruntime', '—', 'FAILED (below)', '', '', '', '', '', '', ''])
  const problems: string[] = []
  if (m.raw.failed !== null) problems.push(`raw onnxruntime: FAILED: ${oneLine(m.raw.failed)}`)
  for (const row of m.rows) {
    if (row.failed && row.cells.length === 0) {
      rows.push([row.label, '—', 'FAILED (below)', '', '', '', '', '', '', ''])
      problems.push(`${row.label}: FAILED: ${oneLine(row.failed)}`)
      continue
    }
    for (const c of row.cells)
      rows.push([
        row.label,
        String(c.connections),
        num(c.rps),
        num(c.samples_per_s),
        num(c.p50_ms, 2),
        num(c.p99_ms, 2),
        num(c.server_cpu_us, 1),
        cpuPct(c.server_cpu),
        cpuPct(c.client_cpu),
        c.errors ? `${c.errors} (${describeErrors(c)})` : '0',
      ])
    if (row.failed) problems.push(`${row.label}: ${oneLine(row.failed)}`)
  }
  out.push(table(['row', 'conns', 'req/s', 'samples/s', 'p50 ms', 'p99 ms', 'server µs/req', 'server core', 'client core', 'errors/non-2xx'], rows))
  out.push('')
  out.push(
    `server µs/req: the server process's CPU (user + system, every thread, /proc/<pid>/stat) over the window divided by its 2xx responses; ` +
      `samples/s: req/s × the samples (or images) each request carries; ratios compare samples/s. ` +
      `server core / client core: CPU seconds over wall seconds of the server and of the load generator (wrk, or the gRPC load process) (100% = the pinned core was busy throughout). ` +
      `For comparison, Triton's published server overhead is about ${TRITON_REFERENCE.overhead_us} µs per request (${TRITON_REFERENCE.source}; wall time outside queue and compute, not CPU).`,
  )
  out.push('')
  if (problems.length) out.push(...problems.map((p) => `- **${p}**`), '')
  if (m.raw.failed === null) {
    out.push(
      `Raw onnxruntime by batch size (samples/s): ${m.raw.batches.map((b) => `${b.batch}: ${num(b.samples_per_s, 0)}`).join(', ')} — ${m.raw.session_options}, pinned to CPU ${m.raw.pinned_to ?? '(not pinned)'}.`,
    )
    out.push('')
  }
  if (m.ratios.length) {
    const conns = [...new Set(m.ratios.map((r) => r.connections))]
    const label = (id: string) => (id === 'raw' ? 'raw onnxruntime' : (m.rows.find((r) => r.id === id)?.label ?? id))
    const rr: string[][] = []
    for (const id of [...new Set(m.ratios.map((r) => r.row))]) {
      const others = [...new Set(m.ratios.filter((r) => r.row === id).flatMap((r) => Object.keys(r.vs)))]
      for (const other of others)
        rr.push([`${label(id)} / ${label(other)}`, ...conns.map((c) => ratio(m.ratios.find((r) => r.row === id && r.connections === c)?.vs[other]))])
    }
    out.push(table(['throughput ratio (same run)', ...conns.map((c) => `c=${c}`)], rr))
    out.push('')
  }
  const cal = m.calibration
  if ('failed' in cal) out.push(`Calibration step: FAILED: ${oneLine(cal.failed)}`)
  else {
    out.push(
      `Calibration step (\`predict()\` of src/calibration/apply.ts, 1×${cal.per_request.classes} logits, top_k 1): ${num(cal.per_request.us_per_call, 2)} µs per request (median; mean ${num(cal.per_request.us_per_call_mean, 2)}) = ` +
        `**${pct(cal.pct_of_http, 3)}** of calserve's p50 at c=1 (${num(cal.http_p50_ms, 3)} ms, ${cal.http_row ?? '—'}); ` +
        `${pct(cal.pct_of_ort_batch1)} of one ORT run at batch 1 (${num(cal.ort_batch1_ms, 3)} ms)` +
        (cal.per_batch
          ? `; on a batch of ${cal.per_batch.n}: ${num(cal.per_batch.us_per_call, 1)} µs = ${pct(cal.per_batch.pct_of_ort)} of its ORT run (${num(cal.per_batch.ort_ms, 3)} ms).`
          : '.'),
    )
  }
  for (const n of m.notes) out.push(`\n> ${n}`)
  return out.join('\n')
}

export function renderRss(r: RssResult | null): string {
  if (!r) return '### Memory\n\nskipped (--rss-duration 0)'
  if (r.failed) return `### Memory\n\nFAILED: ${oneLine(r.failed)}`
  const lines = [
    '### Memory',
    '',
    `calserve (${r.model}, JSON) under ${r.connections} connections for ${r.duration_s} s after ${r.warmup_s} s of warm-up, RSS of the server process sampled every second from /proc/<pid>/status:`,
    '',
    table(
      ['start MiB', 'end MiB', 'max MiB', 'growth', 'req/s', 'p99 ms', 'errors'],
      [[num(r.start_mib), num(r.end_mib), num(r.max_mib), pct(r.growth_pct, 1), num(r.load?.rps), num(r.load?.p99_ms, 2), String(r.load?.errors ?? '—')]],
    ),
  ]
  if (r.samples.length) {
    const step = Math.max(1, Math.ceil(r.samples.length / 12))
    const picks = r.samples.filter((_, i) => i % step === 0 || i === r.samples.length - 1)
    lines.push('', `RSS over time (s: MiB): ${picks.map((s) => `${s.t_s}: ${s.rss_mib.toFixed(1)}`).join(', ')}`)
  }
  return lines.join('\n')
}

export function renderTargets(targets: Target[]): string {
  const rows = targets.map((t) => [
    t.description,
    t.measured === null ? '—' : `${formatValue(t.measured, t.unit)}`,
    `${t.op === '>=' ? '≥' : '≤'} ${formatValue(t.threshold, t.unit)}`,
    t.status,
    t.margin_pct === null ? (t.note ?? '—') : `${t.margin_pct >= 0 ? '+' : ''}${t.margin_pct.toFixed(1)}%${t.note ? ` (${t.note})` : ''}`,
  ])
  return table(['target', 'measured', 'target', 'result', 'margin'], rows, ['l', 'r', 'r', 'l', 'l'])
}

function formatValue(v: number, unit: string): string {
  if (unit === '×') return v < 0.1 ? `${v.toFixed(4)}×` : `${v.toFixed(2)}×`
  if (unit === '%') return `${v.toFixed(v < 0.1 ? 4 : 2)}%`
  return `${v.toFixed(2)} ${unit}`
}

export function renderAll(r: BenchResults): string {
  const passed = r.targets.filter((t) => t.status === 'PASS').length
  return [
    `# calserve benchmark — ${r.started_at.slice(0, 10)} on ${r.machine.hostname}${r.quick ? ' (quick)' : ''}`,
    '',
    renderMachine(r),
    '',
    '## Throughput and latency',
    '',
    ...r.models.flatMap((m) => [renderModel(m), '']),
    renderRss(r.rss),
    '',
    `## Targets (${passed}/${r.targets.length} pass)`,
    '',
    renderTargets(r.targets),
    '',
    'Margin: how far the measurement is from the target, relative to the target (positive = met with that much room, negative = missed by that much).',
    '',
  ].join('\n')
}

/** The ratios the summary shows, by the row they divide by, and their short names. */
const SHORT: Record<string, string> = {
  json_parse: 'parse',
  bare: 'bare',
  naive: 'naive',
  raw: 'raw',
  calserve_v1_json: 'v1 JSON',
  calserve_v1_binary: 'v1 binary',
  calserve_v2_binary: 'v2 binary',
  calserve_v1_binary16: 'v1 binary ×16',
  calserve_image: 'PNG ×1',
}

/** The short version for bench/README.md. */
export function renderSummary(r: BenchResults, resultFile: string): string {
  const passed = r.targets.filter((t) => t.status === 'PASS').length
  const lines = [`Last full run (${resultFile}):`, '', renderMachine(r), '']
  for (const m of r.models) {
    const rows: string[][] = []
    const rawBest = m.raw.failed === null ? m.raw.best : null
    const top = Math.max(...m.rows.flatMap((x) => x.cells.map((c) => c.connections)), 0)
    rows.push([`raw onnxruntime (batch ${rawBest?.batch ?? '—'})`, '—', num(rawBest?.samples_per_s), '—', '—', num(rawBest?.cpu_us_per_sample, 1), '—'])
    for (const row of m.rows) {
      const c = row.cells.find((x) => x.connections === top)
      const ratios = m.ratios.find((x) => x.row === row.id && x.connections === top)?.vs ?? {}
      const shown = Object.keys(SHORT)
        .filter((k) => k in ratios)
        .map((k) => `${ratio(ratios[k])} ${SHORT[k]}`)
      rows.push([
        row.label,
        c ? num(c.rps) : row.failed ? 'FAILED' : '—',
        num(c?.samples_per_s),
        num(c?.p50_ms, 2),
        num(c?.p99_ms, 2),
        num(c?.server_cpu_us, 1),
        shown.join(', ') || '—',
      ])
    }
    lines.push(
      `**${m.title}**, ${top} connections:`,
      '',
      table(['row', 'req/s', 'samples/s', 'p50 ms', 'p99 ms', 'server µs/req', 'ratios'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l']),
      '',
    )
  }
  lines.push(`Triton's published server overhead for comparison: about ${TRITON_REFERENCE.overhead_us} µs per request (${TRITON_REFERENCE.source}).`, '')
  lines.push(`Targets: ${passed}/${r.targets.length} pass.`, '', renderTargets(r.targets))
  return lines.join('\n')
}

function fmtBytes(b: number): string {
  return b >= 1024 * 1024 ? `${(b / 2 ** 20).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`
}

export function describeErrors(cell: WrkCell): string {
  const parts: string[] = []
  if (cell.non2xx) parts.push(`${cell.non2xx} HTTP ≥ 400 (see the server log; 503 = queue full)`)
  if (cell.timeouts) parts.push(`${cell.timeouts} timeouts`)
  const { connect, read, write } = cell.socket_errors
  if (connect + read + write > 0) parts.push(`socket errors: connect ${connect}, read ${read}, write ${write}`)
  return parts.join(', ')
}

function oneLine(s: string, max = 400): string {
  const l = s.replace(/\s+/g, ' ').trim()
  return l.length > max ? `${l.slice(0, max - 1)}…` : l
}
