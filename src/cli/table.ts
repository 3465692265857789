// Plain-text tables and the number formats the CLI prints.

export type Align = 'left' | 'right'

/** Visible width: code points, so γ, — and ✓ count as one column. */
const width = (s: string): number => [...s].length

function pad(s: string, w: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)))
  return align === 'right' ? fill + s : s + fill
}

/**
 * Columns two spaces apart, a rule under the header, trailing spaces trimmed, one `\n` per line.
 * `align` is per column (default left).
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))))
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => pad(cells[i] ?? '', w, align[i] ?? 'left'))
      .join('  ')
      .trimEnd()
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `${l}\n`).join('')
}

/** Aligned `key  value` lines, keys padded to the longest. */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string {
  const w = Math.max(0, ...pairs.map(([k]) => width(k)))
  return pairs.map(([k, v]) => `${pad(k, w, 'left')}  ${v}`.trimEnd() + '\n').join('')
}

export const NONE = '—'

/** A rate as a percentage with one decimal: 0.9341 → "93.4%"; null → "—". */
export function formatPercent(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? NONE : `${(x * 100).toFixed(1)}%`
}

/** A number with fixed decimals; null → "—". */
export function formatFixed(x: number | null | undefined, decimals = 4): string {
  return x === null || x === undefined || !Number.isFinite(x) ? NONE : x.toFixed(decimals)
}

/** A byte count for people: 1536 → "1.5 kB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let v = n
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}
