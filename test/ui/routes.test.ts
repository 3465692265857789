// The dashboard's HTTP side without a browser: the static page under its CSP, the redirect from /,
// and GET …/calibration/curve (404 before a fit, then exactly the curve the fit reported).
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { build } from '../helper.js'

const UI = resolve(import.meta.dirname, '../../src/ui')

// Inputs on a 1/8 grid so the fixture's logits are exact; labels cover S and U.
const LABELS = ['cat', 'dog', 'bird', 'fish']
function makeSet(n: number) {
  let s = 11
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
  const inputs: number[][] = []
  const labels: string[] = []
  for (let i = 0; i < n; i++) {
    inputs.push([0, 1, 2].map(() => Math.round((rand() * 4 - 2) * 8) / 8))
    labels.push(LABELS[Math.floor(rand() * 4)]!)
  }
  return { inputs, labels }
}

t.test('/ redirects to /ui; the page and its files are served as they are on disk, under a strict CSP', async (t) => {
  const app = await build(t)
  const root = await app.inject({ url: '/' })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/ui')

  for (const [url, file, type] of [
    ['/ui', 'index.html', 'text/html'],
    ['/ui/', 'index.html', 'text/html'],
    ['/ui/index.html', 'index.html', 'text/html'],
    ['/ui/app.js', 'app.js', 'text/javascript'],
    ['/ui/style.css', 'style.css', 'text/css'],
  ] as const) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], type, `${url} content type`)
    t.equal(res.body, readFileSync(resolve(UI, file), 'utf8'), `${url} is ${file}`)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, /(^|; )default-src 'self'(;|$)/, `${url} has default-src 'self'`)
    t.match(csp, /script-src 'self'(;|$)/, 'scripts only from this origin, none inline')
    t.notMatch(csp, /unsafe-inline|unsafe-eval/)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
  }
  const missing = await app.inject({ url: '/ui/secret.txt' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'CALSERVE_NOT_FOUND')
})

t.test('the page never parses server data as HTML', async (t) => {
  const js = readFileSync(resolve(UI, 'app.js'), 'utf8')
  t.notMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, 'no HTML sinks in app.js')
  t.notMatch(js, /localStorage|sessionStorage|document\.cookie/, 'the admin token is not persisted')
  const html = readFileSync(resolve(UI, 'index.html'), 'utf8')
  t.notMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script')
  t.notMatch(html, /\sstyle=|<style/, 'no inline style')
  t.notMatch(html, /https?:\/\//, 'nothing loaded from elsewhere')
})

t.test('GET …/calibration/curve: 404 before a fit, then the stored curve of the newest fit', async (t) => {
  const app = await build(t)
  const before = await app.inject({ url: '/v1/models/tiny/calibration/curve' })
  t.equal(before.statusCode, 404)
  t.equal(before.json().error.code, 'CALSERVE_NOT_FOUND')
  t.equal((await app.inject({ url: '/v1/models/nope/calibration/curve' })).json().error.code, 'CALSERVE_MODEL_NOT_FOUND')

  const fit = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { ...makeSet(80), objective: 'harmonic_mean' } })
  t.equal(fit.statusCode, 200, fit.body)
  const f = fit.json()
  const res = await app.inject({ url: '/v1/models/tiny/calibration/curve' })
  t.equal(res.statusCode, 200, res.body)
  const curve = res.json()
  t.equal(curve.model, 'tiny')
  t.equal(curve.model_version, f.calibration.model_version)
  t.equal(curve.version, f.calibration.version)
  t.equal(curve.ausuc, f.metrics.fitted.ausuc)
  t.same(curve.points, f.curve, 'the points are the curve the fit reported')
  t.same(curve.marks, [
    { name: 'uncalibrated', gamma: 0, acc_s_y: f.metrics.uncalibrated.acc_s_y, acc_u_y: f.metrics.uncalibrated.acc_u_y },
    { name: 'fitted', gamma: f.gamma, acc_s_y: f.metrics.fitted.acc_s_y, acc_u_y: f.metrics.fitted.acc_u_y },
  ])
  const gammas = (curve.points as Array<{ gamma: number }>).map((p) => p.gamma)
  t.ok(
    gammas.every((g, i) => i === 0 || g > gammas[i - 1]!),
    'points are in increasing γ order',
  )

  // A manual change after the fit keeps serving the fit's curve, with the fit's version.
  t.equal((await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 3 } })).statusCode, 200)
  const after = (await app.inject({ url: '/v1/models/tiny/calibration/curve' })).json()
  t.equal(after.version, f.calibration.version)
  t.same(after.points, curve.points)
})

t.test('the curve route is documented; the page routes are not', async (t) => {
  const app = await build(t)
  const doc = app.swagger() as unknown as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
    components: { schemas: Record<string, unknown> }
  }
  const curve = doc.paths['/v1/models/{name}/calibration/curve']
  t.ok(curve?.get, 'GET …/calibration/curve is documented')
  t.ok(curve?.get?.responses['200'] && curve.get.responses['404'], 'with its 200 and 404')
  t.ok(doc.components.schemas.CalibrationCurve, 'CalibrationCurve is a component')
  for (const path of ['/', '/ui', '/ui/app.js', '/ui/style.css', '/ui/index.html']) t.notOk(doc.paths[path], `${path} is hidden`)
})
