// Markdown rendering of a run: the same tables go to the console and to bench/results/*.md.
import type { CellResult } from './load.js'
import type { BenchResults, ModelResult, RssResult, Target } from './types.js'

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
    `- software: Node ${m.node}, onnxruntime-node ${m.onnxruntime_node} (CPU), Fastify ${m.fastify}, autocannon ${m.autocannon}`,
    `- code: ${m.git_commit ? `${m.git_commit.slice(0, 12)}${m.git_dirty ? ' + uncommitted changes' : ''}` : 'unknown commit'}`,
    `- command: \`${r.command}\`${r.quick ? ' (quick smoke run: numbers are indicative only)' : ''}`,
    `- started ${r.started_at}, finished ${r.finished_at}; load average (1/5/15 min) at start ${m.loadavg_start.join(' ')}, at end ${m.loadavg_end?.join(' ') ?? '—'}` +
      (m.loadavg_start[0]! > m.cores * 0.5 ? ' — **the machine was busy with other work: numbers are noisy**' : ''),
    `- the load generator (autocannon, one process) runs on the same machine as the server under test and shares its cores`,
  ].join('\n')
}

export function renderModel(m: ModelResult): string {
  const out: string[] = []
  out.push(`### ${m.title}`)
  out.push('')
  out.push(
    `Model \`${m.name}\` from \`${m.repository}\`, input [N, ${m.input_shape.join(', ')}] float32, ${m.classes} classes. ` +
      `One sample per request (${m.distinct_requests} distinct bodies cycled): JSON ${fmtBytes(m.request_bytes.json)}, binary ${fmtBytes(m.request_bytes.binary)}. ` +
      `Each cell: ${m.warmup_s} s warm-up, then ${m.duration_s} s measured.`,
  )
  out.push('')
  const rows: string[][] = []
  if (m.raw.failed === null) {
    const b = m.raw.best
    rows.push([`raw onnxruntime, in-process (best batch ${b?.batch ?? '—'})`, '—', num(b?.samples_per_s), `${num(b?.ms_per_run, 2)} /run`, '—', '—'])
  } else rows.push(['raw onnxruntime, in-process', '—', 'FAILED (below)', '', '', ''])
  const problems: string[] = []
  if (m.raw.failed !== null) problems.push(`raw onnxruntime: FAILED: ${oneLine(m.raw.failed)}`)
  for (const row of m.rows) {
    if (row.failed && row.cells.length === 0) {
      rows.push([row.label, '—', 'FAILED (below)', '', '', ''])
      problems.push(`${row.label}: FAILED: ${oneLine(row.failed)}`)
      continue
    }
    for (const c of row.cells)
      rows.push([row.label, String(c.connections), num(c.rps), num(c.p50_ms, 2), num(c.p99_ms, 2), c.errors ? `${c.errors} (${describeErrors(c)})` : '0'])
    if (row.failed) problems.push(`${row.label}: ${oneLine(row.failed)}`)
  }
  out.push(table(['row', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx'], rows))
  out.push('')
  if (problems.length) out.push(...problems.map((p) => `- **${p}**`), '')
  if (m.raw.failed === null) {
    out.push(
      `Raw onnxruntime by batch size (samples/s): ${m.raw.batches.map((b) => `${b.batch}: ${num(b.samples_per_s, 0)}`).join(', ')} — ${m.raw.session_options}.`,
    )
    out.push('')
  }
  if (m.ratios.length) {
    const conns = [...new Set(m.ratios.map((r) => r.connections))]
    const rr: string[][] = []
    for (const id of ['calserve_json', 'calserve_binary', 'calserve_v2_json', 'calserve_v2_binary'] as const) {
      if (!m.ratios.some((r) => r.row === id)) continue
      const label = { calserve_json: 'calserve JSON', calserve_binary: 'calserve binary', calserve_v2_json: 'calserve v2 JSON', calserve_v2_binary: 'calserve v2 binary' }[id]
      for (const [what, key] of [['raw', 'vs_raw'], ['naive', 'vs_naive'], ['bare', 'vs_bare']] as const)
        rr.push([`${label} / ${what}`, ...conns.map((c) => ratio(m.ratios.find((r) => r.row === id && r.connections === c)?.[key]))])
    }
    out.push(table(['throughput ratio', ...conns.map((c) => `c=${c}`)], rr))
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

/** The short version for bench/README.md. */
export function renderSummary(r: BenchResults, resultFile: string): string {
  const passed = r.targets.filter((t) => t.status === 'PASS').length
  const lines = [`Last full run (${resultFile}):`, '', renderMachine(r), '']
  for (const m of r.models) {
    const rows: string[][] = []
    const rawBest = m.raw.failed === null ? m.raw.best : null
    const top = Math.max(...m.rows.flatMap((x) => x.cells.map((c) => c.connections)), 0)
    rows.push([`raw onnxruntime (batch ${rawBest?.batch ?? '—'})`, num(rawBest?.samples_per_s), '—', '—'])
    for (const row of m.rows) {
      const c = row.cells.find((x) => x.connections === top)
      rows.push([row.label, c ? num(c.rps) : row.failed ? 'FAILED' : '—', num(c?.p50_ms, 2), num(c?.p99_ms, 2)])
    }
    lines.push(`**${m.title}**, ${top} connections:`, '', table(['row', 'req/s', 'p50 ms', 'p99 ms'], rows), '')
  }
  lines.push(`Targets: ${passed}/${r.targets.length} pass.`, '', renderTargets(r.targets))
  return lines.join('\n')
}

function fmtBytes(b: number): string {
  return b >= 1024 * 1024 ? `${(b / 2 ** 20).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`
}

export function describeErrors(cell: CellResult): string {
  const parts = Object.entries(cell.status_codes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, count]) => `HTTP ${code} ×${count}`)
  const socket = cell.errors - cell.non2xx - cell.timeouts
  if (cell.timeouts) parts.push(`${cell.timeouts} timeouts`)
  if (socket > 0) parts.push(`${socket} socket errors${cell.first_error ? `, first: ${cell.first_error}` : ''}`)
  return parts.join(', ')
}

function oneLine(s: string, max = 400): string {
  const l = s.replace(/\s+/g, ' ').trim()
  return l.length > max ? `${l.slice(0, max - 1)}…` : l
}
