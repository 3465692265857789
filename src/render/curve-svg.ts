// A standalone SVG of the seen–absent curve: Acc_U/Y on x, Acc_S/Y on y, both over [0, 1], with the
// calibrations of interest (uncalibrated, active, fitted, …) marked. No dependencies, no DOM:
// every piece of text that came from outside is XML-escaped.
import type { CurvePoint } from '../calibration/index.js'

export interface CurveSvgInput {
  title: string
  /** One curve (its AUSUC goes in the title) or several (each named with its AUSUC in the legend). */
  curves: Array<{ name: string; points: CurvePoint[]; ausuc: number | null }>
  /** `model`: the mark is that (reference) model's point rather than a γ of the fitted one. */
  marks: Array<{ name: string; model?: string; gamma: number; acc_s_y: number | null; acc_u_y: number | null }>
}

const CURVE_COLOURS = ['#1f77b4', '#7f7f7f', '#bcbd22', '#e377c2']
const formatAusuc = (a: number | null) => (a === null ? 'AUSUC n/a' : `AUSUC ${a.toFixed(4)}`)

const W = 640
const H = 480
const PLOT = { left: 70, right: 610, top: 60, bottom: 420 }
const TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1]
// Distinct, colour-blind-friendly-ish marks; cycles if there are more marks than colours.
const COLOURS = ['#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#7f7f7f']

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[ch]};`)
}

const px = (u: number) => PLOT.left + clamp01(u) * (PLOT.right - PLOT.left)
const py = (s: number) => PLOT.bottom - clamp01(s) * (PLOT.bottom - PLOT.top)
function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v
}
const f2 = (v: number) => v.toFixed(2)

function formatGamma(g: number): string {
  if (!Number.isFinite(g)) return String(g)
  return Math.abs(g) >= 1e4 || (g !== 0 && Math.abs(g) < 1e-3) ? g.toExponential(3) : String(Number(g.toFixed(4)))
}

export function renderCurveSvg(input: CurveSvgInput): string {
  const single = input.curves.length === 1
  const title = escapeXml(single ? `${input.title} — ${formatAusuc(input.curves[0]!.ausuc)}` : input.title)
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${title}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="30" text-anchor="middle" font-size="16">${title}</text>`,
  )
  // Grid, ticks and tick labels.
  for (const t of TICKS) {
    const x = f2(px(t))
    const y = f2(py(t))
    out.push(
      `<line x1="${x}" y1="${PLOT.top}" x2="${x}" y2="${PLOT.bottom}" stroke="#eee"/>`,
      `<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#eee"/>`,
      `<line x1="${x}" y1="${PLOT.bottom}" x2="${x}" y2="${PLOT.bottom + 5}" stroke="#000"/>`,
      `<text x="${x}" y="${PLOT.bottom + 18}" text-anchor="middle">${t.toFixed(1)}</text>`,
      `<line x1="${PLOT.left - 5}" y1="${y}" x2="${PLOT.left}" y2="${y}" stroke="#000"/>`,
      `<text x="${PLOT.left - 8}" y="${f2(py(t) + 4)}" text-anchor="end">${t.toFixed(1)}</text>`,
    )
  }
  // Axes and their labels.
  out.push(
    `<line x1="${PLOT.left}" y1="${PLOT.bottom}" x2="${PLOT.right}" y2="${PLOT.bottom}" stroke="#000"/>`,
    `<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.bottom}" stroke="#000"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 40}" text-anchor="middle">Acc_U/Y</text>`,
    `<text x="20" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle" transform="rotate(-90 20 ${(PLOT.top + PLOT.bottom) / 2})">Acc_S/Y</text>`,
  )
  // The curves: points with both coordinates defined, in γ order; with several, a legend at the
  // bottom left (where a seen–absent curve leaves room) names each with its AUSUC.
  input.curves.forEach((curve, i) => {
    const colour = CURVE_COLOURS[i % CURVE_COLOURS.length]!
    const pts = curve.points.filter((p) => p.acc_u_y !== null && p.acc_s_y !== null).map((p) => `${f2(px(p.acc_u_y!))},${f2(py(p.acc_s_y!))}`)
    if (pts.length > 0) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.join(' ')}"/>`)
    if (single) return
    const ly = PLOT.bottom - 12 - (input.curves.length - 1 - i) * 18
    out.push(
      `<line x1="${PLOT.left + 12}" y1="${ly}" x2="${PLOT.left + 32}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${PLOT.left + 38}" y="${ly + 4}">${escapeXml(`${curve.name} — ${formatAusuc(curve.ausuc)}`)}</text>`,
    )
  })
  // Marks and the legend (top right of the plot, where a seen–absent curve leaves room).
  input.marks.forEach((mk, i) => {
    const colour = COLOURS[i % COLOURS.length]!
    const plotted = mk.acc_s_y !== null && mk.acc_u_y !== null
    if (plotted) {
      out.push(
        `<circle cx="${f2(px(mk.acc_u_y!))}" cy="${f2(py(mk.acc_s_y!))}" r="5" fill="${colour}" stroke="#000" stroke-width="0.5"><title>${escapeXml(mk.name)}</title></circle>`,
      )
    }
    const ly = PLOT.top + 12 + i * 18
    // A reference mark is another model's point (uncalibrated), not a γ of this one.
    const what = mk.model === undefined ? `${mk.name} (γ = ${formatGamma(mk.gamma)})` : `${mk.name} model ${mk.model} (uncalibrated)`
    const label = `${what}${plotted ? '' : ' — not plotted'}`
    out.push(
      `<circle cx="${PLOT.right - 200}" cy="${ly}" r="5" fill="${colour}" stroke="#000" stroke-width="0.5"/>`,
      `<text x="${PLOT.right - 190}" y="${ly + 4}">${escapeXml(label)}</text>`,
    )
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
