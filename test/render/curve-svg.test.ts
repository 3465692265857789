import t from 'tap'
import { renderCurveSvg } from '../../src/render/curve-svg.js'
import { metricsAt, prepare, seenAbsentCurve } from '../../src/calibration/index.js'
import { ex } from '../calibration/fixtures/helpers.js'

const p = prepare(ex.logits, ex.labels, ex.absent)
const { points, ausuc } = seenAbsentCurve(p)
const mark = (name: string, gamma: number) => {
  const m = metricsAt(p, gamma)
  return { name, gamma, acc_s_y: m.acc_s_y, acc_u_y: m.acc_u_y }
}

t.test('a standalone SVG with axes, curve, marks and AUSUC', async (t) => {
  const svg = renderCurveSvg({
    title: 'demo model',
    curves: [{ name: 'demo', points, ausuc }],
    marks: [mark('uncalibrated', 0), mark('fitted', 0.5), { name: 'active', gamma: 1e300, acc_s_y: null, acc_u_y: null }],
  })
  t.match(svg, /^<svg /)
  t.match(svg, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.match(svg, /viewBox="0 0 640 480"/)
  t.match(svg, /<\/svg>\n$/)
  t.match(svg, /AUSUC 0\.5833/) // 7/12
  t.match(svg, />Acc_U\/Y</)
  t.match(svg, />Acc_S\/Y</)
  t.match(svg, /<polyline [^>]*points="[^"]+"/)
  t.equal((svg.match(/<polyline /g) ?? []).length, 1)
  // polyline has one vertex per curve point with both coordinates
  t.equal(/points="([^"]+)"/.exec(svg)![1]!.split(' ').length, points.length)
  t.match(svg, /uncalibrated \(γ = 0\)/)
  t.match(svg, /fitted \(γ = 0\.5\)/)
  t.match(svg, /active \(γ = 1\.000e\+300\) — not plotted/)
  // ticks 0.0 … 1.0 on both axes
  for (const tick of ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']) t.equal(svg.split(`>${tick}<`).length - 1, 2)
  // distinct colours for distinct marks
  const fills = [...svg.matchAll(/<circle [^>]*fill="(#[0-9a-f]+)"/g)].map((m) => m[1])
  t.equal(new Set(fills).size, 3)
  // balanced tags (XML-ish): every opened element is closed or self-closed
  const opened = (svg.match(/<[a-z]+[ >]/g) ?? []).length
  const closed = (svg.match(/<\/[a-z]+>/g) ?? []).length + (svg.match(/\/>/g) ?? []).length
  t.equal(opened, closed)
})

t.test('all text is XML-escaped', async (t) => {
  const svg = renderCurveSvg({
    title: '<script>alert("x")</script> & co',
    curves: [{ name: 'x', points, ausuc: null }],
    marks: [{ name: "<b>o'hara</b>", gamma: 0, acc_s_y: 0.5, acc_u_y: 0.5 }],
  })
  t.notMatch(svg, /<script>/)
  t.notMatch(svg, /<b>/)
  t.match(svg, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; co — AUSUC n\/a/)
  t.match(svg, /&lt;b&gt;o&apos;hara&lt;\/b&gt;/)
})

t.test('several curves: one polyline each, named with their AUSUC in the legend', async (t) => {
  const svg = renderCurveSvg({
    title: 'pre-trained vs <fine-tuned>',
    curves: [
      { name: 'pre-trained', points, ausuc: 0.25 },
      { name: '<fine-tuned>', points: points.slice(1), ausuc },
    ],
    marks: [],
  })
  t.equal((svg.match(/<polyline /g) ?? []).length, 2)
  t.match(svg, /pre-trained — AUSUC 0\.2500/)
  t.match(svg, /&lt;fine-tuned&gt; — AUSUC 0\.5833/)
  t.notMatch(svg, /<title>[^<]*AUSUC/, 'with several curves the title carries no single AUSUC')
  const strokes = [...svg.matchAll(/<polyline [^>]*stroke="(#[0-9a-f]+)"/g)].map((m) => m[1])
  t.equal(new Set(strokes).size, 2)
})
