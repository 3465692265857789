// The dashboard in a real browser against a real calserve process: Debian's chromium driven by
// playwright-core. Fit over HTTP, open /ui, move the γ slider and check the readout against the
// stored curve, apply a γ and see predict follow, see changes made behind the page's back, a 409
// and a 401 reported, roll back, and a label holding <script> shown as text.
// (docs/dashboard.png is taken by test/ui/states.test.ts, on the demo models alone.)
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import type { Request } from 'playwright-core'
import { DEMO_MODELS, tempDir } from '../helper.js'
import { http, launch, moveSlider, readout, noChromium, startCalserve, waitText } from './browser.js'

const ROOT = resolve(import.meta.dirname, '../..')
const MODEL = 'digits-finetuned'
const XSS_MODEL = 'xss-model'
const XSS_LABEL = '<script>window.__xss=1</script>'
const ARTIFACTS = resolve(ROOT, 'test/artifacts')
const readNdjson = (file: string) =>
  readFileSync(resolve(ROOT, 'examples/digits/data', file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { input: number[]; label: string })

interface Point {
  gamma: number
  acc_s_y: number | null
  acc_u_y: number | null
  acc_y_y: number | null
}
interface Curve {
  version: number
  ausuc: number | null
  points: Point[]
  marks: Array<{ name: string; gamma: number }>
}

/** The rule the page documents, re-stated: the point with the nearest γ, the upper one on a tie. */
function expectedPointIndex(points: Point[], gamma: number): number {
  let best = 0
  for (let i = 1; i < points.length; i++) {
    const d = Math.abs(points[i]!.gamma - gamma)
    const dBest = Math.abs(points[best]!.gamma - gamma)
    if (d < dBest || (d === dBest && points[i]!.gamma > points[best]!.gamma)) best = i
  }
  return best
}

const fmt = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4))

/** A repository with the demo models plus a copy of digits-finetuned whose absent label "9" is markup. */
function modelRepository(dir: string): string {
  const repo = join(dir, 'models')
  cpSync(DEMO_MODELS, repo, { recursive: true })
  cpSync(join(DEMO_MODELS, MODEL), join(repo, XSS_MODEL), { recursive: true })
  const manifestPath = join(repo, XSS_MODEL, 'model.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { labels: string[]; description?: string }
  manifest.labels = manifest.labels.map((l) => (l === '9' ? XSS_LABEL : l))
  manifest.description = '<img src=x onerror="window.__xss=2">digits with a hostile label'
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2))
  return repo
}

t.test('the dashboard in chromium against a real calserve', async (t) => {
  const dir = tempDir(t, 'calserve-ui-')
  const base = await startCalserve(t, {
    CALSERVE_MODEL_REPOSITORY: modelRepository(dir),
    CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`,
  })

  // The HTTP side first: the page, the redirect, and a fit through the API.
  const root = await fetch(`${base}/`, { redirect: 'manual' })
  t.equal(root.status, 302)
  t.equal(root.headers.get('location'), '/ui')
  const pageRes = await fetch(`${base}/ui`)
  t.equal(pageRes.status, 200)
  t.match(pageRes.headers.get('content-security-policy'), /default-src 'self'/)
  t.equal((await http(base, 'GET', `/v1/models/${MODEL}/calibration/curve`)).status, 404, 'no curve before a fit')

  const val = readFileSync(resolve(ROOT, 'examples/digits/data/val.ndjson'), 'utf8')
  // With the pre-trained model as reference, so the curve carries its mark too.
  const fit = await http(base, 'POST', `/v1/models/${MODEL}/calibration/fit?reference_model=digits-pretrained`, val, 'application/x-ndjson')
  t.equal(fit.status, 200, JSON.stringify(fit.body).slice(0, 500))
  const fitted = fit.body.calibration as { version: number; gamma: number }
  const curveRes = await http(base, 'GET', `/v1/models/${MODEL}/calibration/curve`)
  t.equal(curveRes.status, 200)
  const curve = curveRes.body as Curve
  t.equal(curve.version, fitted.version)
  t.same(curve.points, fit.body.curve, 'the curve route serves the curve the fit reported')
  const pts = curve.points
  t.ok(pts.length > 10, `${pts.length} curve points`)

  await t.test('in chromium', { skip: noChromium() }, async (t) => {
    const { page, problems } = await launch(t)
    const writes: Request[] = []
    page.on('request', (req) => {
      if (req.method() !== 'GET') writes.push(req)
    })

    await page.goto(`${base}/`)
    t.match(page.url(), /\/ui(#.*)?$/, '/ redirected to /ui')
    await page.waitForSelector(`#models tr[data-model="${MODEL}"]`)
    await page.selectOption('#model-select', MODEL)
    await waitText(page, '#cal-version', String(fitted.version))
    await page.waitForSelector('#curve-box svg polyline.curve')

    // The curve and its four marks.
    const polyline = await page.$eval('#curve-box svg polyline.curve', (el) => el.getAttribute('points') ?? '')
    t.equal(polyline.trim().split(/\s+/).length, pts.filter((p) => p.acc_s_y !== null && p.acc_u_y !== null).length, 'one vertex per curve point')
    for (const mark of ['uncalibrated', 'active', 'fitted', 'reference'])
      t.equal(await page.locator(`#curve-box svg [data-mark="${mark}"] circle`).count(), 1, `the ${mark} point is drawn`)
    t.equal(await page.isVisible('#legend-reference'), true, 'the legend names the reference model')
    t.match(await page.textContent('#legend-reference'), /reference model digits-pretrained/)
    t.equal(await page.textContent('#fact-provider'), 'cpu', 'execution provider shown')
    t.equal(await page.textContent('#fact-state'), 'READY')
    t.equal(Number(await page.getAttribute('#cal-gamma', 'data-value')), fitted.gamma, 'active γ shown')

    // The readout starts at the active (fitted) γ.
    const atStart = await readout(page)
    t.equal(Number(atStart.gamma.value), pts[expectedPointIndex(pts, fitted.gamma)]!.gamma, 'the slider starts at the active γ')

    // Move the slider: on a point, between two points (nearer the lower, nearer the upper), past both ends.
    const i = Math.floor(pts.length / 3)
    const a = pts[i]!.gamma
    const b = pts[i + 1]!.gamma
    const lowest = pts[1]!.gamma
    for (const g of [a, a + (b - a) * 0.3, a + (b - a) * 0.7, pts[0]!.gamma - 100, pts[pts.length - 1]!.gamma + 100, fitted.gamma, 0, lowest]) {
      await moveSlider(page, g)
      const shown = await readout(page)
      const sliderValue = Number(await page.$eval('#gamma-slider', (el) => (el as HTMLInputElement).value))
      const p = pts[expectedPointIndex(pts, sliderValue)]!
      const where = `slider at γ=${sliderValue}`
      t.equal(Number(shown.gamma.value), p.gamma, `${where}: the curve point's γ`)
      t.same([shown.s.text, shown.u.text, shown.y.text], [fmt(p.acc_s_y), fmt(p.acc_u_y), fmt(p.acc_y_y)], `${where}: Acc_S/Y, Acc_U/Y, Acc_Y/Y shown`)
      t.same([Number(shown.s.value), Number(shown.u.value), Number(shown.y.value)], [p.acc_s_y, p.acc_u_y, p.acc_y_y], `${where}: exact values`)
      const hm = p.acc_s_y! + p.acc_u_y! === 0 ? 0 : (2 * p.acc_s_y! * p.acc_u_y!) / (p.acc_s_y! + p.acc_u_y!)
      t.ok(Math.abs(Number(shown.hm.value) - hm) < 1e-12, `${where}: harmonic mean ${shown.hm.text}`)
      t.equal(await page.locator('#curve-box svg [data-mark="cursor"] circle').count(), 1, `${where}: the marker is drawn`)
    }
    // Arrow keys step one curve point.
    await page.focus('#gamma-slider')
    await page.keyboard.press('ArrowRight')
    t.equal(Number((await readout(page)).gamma.value), pts[2]!.gamma, 'ArrowRight moves to the next curve point')
    await page.keyboard.press('ArrowLeft')
    t.equal(Number((await readout(page)).gamma.value), lowest)

    // Predict before: find a test sample whose label changes between the fitted γ and the new one.
    const test = readNdjson('test.ndjson')
    const info = (await http(base, 'GET', `/v1/models/${MODEL}`)).body as { labels: string[]; absent_classes: string[] }
    const labels = info.labels
    const absent = new Set(info.absent_classes)
    const raw = await http(base, 'POST', `/v1/models/${MODEL}/predict`, { inputs: test.map((s) => s.input), calibrated: false, return_logits: true })
    t.equal(raw.status, 200)
    const argmax = (z: number[], g: number) =>
      z.reduce((best, v, c) => (v + (absent.has(labels[c]!) ? g : 0) > z[best]! + (absent.has(labels[best]!) ? g : 0) ? c : best), 0)
    const k = (raw.body.predictions as Array<{ logits: number[] }>).findIndex((p) => argmax(p.logits, fitted.gamma) !== argmax(p.logits, lowest))
    t.ok(k >= 0, 'some test sample is predicted differently at the new γ')
    const sample = test[k]!.input
    const before = await http(base, 'POST', `/v1/models/${MODEL}/predict`, { inputs: [sample] })
    t.equal(before.body.calibration.version, fitted.version)

    // Apply with an admin token: PUT with expected_version, Authorization sent, page follows.
    await page.fill('#token', 'test-admin-token')
    await page.fill('#note', 'lower γ from the dashboard')
    await page.click('#apply')
    await waitText(page, '#cal-version', String(fitted.version + 1))
    const put = writes.find((r) => r.method() === 'PUT')
    t.ok(put, 'the page sent a PUT')
    t.equal(put?.headers()['authorization'], 'Bearer test-admin-token', 'with the admin token')
    t.same(put?.postDataJSON(), { gamma: lowest, temperature: 1, expected_version: fitted.version, note: 'lower γ from the dashboard' })
    const cal = (await http(base, 'GET', `/v1/models/${MODEL}/calibration`)).body
    t.match(cal, { version: fitted.version + 1, gamma: lowest, method: 'manual', note: 'lower γ from the dashboard' })
    const after = await http(base, 'POST', `/v1/models/${MODEL}/predict`, { inputs: [sample] })
    t.equal(after.body.calibration.version, fitted.version + 1, 'predict reports the applied version')
    t.equal(after.body.calibration.gamma, lowest)
    t.equal(after.body.predictions[0].index, argmax(raw.body.predictions[k].logits, lowest), 'predict follows the new γ')
    t.not(
      after.body.predictions[0].label,
      before.body.predictions[0].label,
      `sample ${k}: ${before.body.predictions[0].label} → ${after.body.predictions[0].label}`,
    )
    t.match(await page.textContent('#status'), /now runs calibration version/)

    // Behind the page's back (another replica, the CLI): the page shows it within a few seconds, note as text.
    const note = '<img src=x onerror="window.__xss=3"> set by the CLI'
    const behind = await http(base, 'PUT', `/v1/models/${MODEL}/calibration`, { gamma: 2.5, expected_version: fitted.version + 1, note })
    t.equal(behind.status, 200)
    await waitText(page, '#cal-version', String(fitted.version + 2), 6000)
    t.equal(await page.textContent('#cal-note'), note, 'the note is shown as text')
    t.equal(await page.locator(`#history tr[data-version="${fitted.version + 2}"]`).count(), 1, 'the history has the new version')
    t.match(await page.textContent('#status'), /changed elsewhere/)

    // A concurrent change the page has not seen yet: the apply is refused with 409 and reported.
    const models = (await http(base, 'GET', '/v1/models')).body
    // From now on the page keeps seeing the old state; once it has polled through the route, no poll
    // that could see the next change is still in flight.
    let routed = () => {}
    const polledStale = new Promise<void>((res) => (routed = res))
    await page.route('**/v1/models', async (route) => {
      await route.fulfill({ json: models })
      routed()
    })
    await polledStale
    const sneaky = await http(base, 'PUT', `/v1/models/${MODEL}/calibration`, { gamma: -1, note: 'concurrent' })
    t.equal(sneaky.body.version, fitted.version + 3)
    await page.click('#apply')
    await page.waitForFunction(() => /someone else changed/.test(document.querySelector('#status')?.textContent ?? ''))
    t.equal((await http(base, 'GET', `/v1/models/${MODEL}/calibration`)).body.version, fitted.version + 3, 'nothing overwritten')
    t.match(await page.getAttribute('#status', 'class'), /error/)
    await page.unrouteAll({ behavior: 'wait' })
    await waitText(page, '#cal-version', String(fitted.version + 3), 8000)

    // A 401 (the admin-auth work will answer it) is shown, not swallowed.
    const calUrl = `**/v1/models/${MODEL}/calibration`
    await page.route(calUrl, (route) =>
      route.request().method() === 'PUT'
        ? route.fulfill({ status: 401, json: { error: { code: 'CALSERVE_UNAUTHORIZED', message: 'a valid admin token is required' } } })
        : route.continue(),
    )
    await page.click('#apply')
    await page.waitForFunction(() => /refused \(401 CALSERVE_UNAUTHORIZED\)/.test(document.querySelector('#status')?.textContent ?? ''))
    await page.unrouteAll({ behavior: 'wait' })

    // Roll back to the fitted version from the history.
    await page.fill('#note', '')
    page.once('dialog', (d) => void d.accept())
    await page.click(`#history button.rollback[data-version="${fitted.version}"]`)
    await waitText(page, '#cal-version', String(fitted.version + 4))
    t.match((await http(base, 'GET', `/v1/models/${MODEL}/calibration`)).body, {
      version: fitted.version + 4,
      method: 'rollback',
      source_version: fitted.version,
      gamma: fitted.gamma,
    })
    t.same(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, ''], 'the token is kept nowhere but in memory')

    // A hostile label and description are shown as text and never run.
    await page.selectOption('#model-select', XSS_MODEL)
    await page.waitForFunction((label) => [...document.querySelectorAll('#classes-u li')].some((li) => li.textContent === label), XSS_LABEL)
    t.equal(await page.locator('#classes-u li', { hasText: XSS_LABEL }).count(), 1, 'the <script> label is shown literally')
    t.equal(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined, 'and did not run')
    t.equal(await page.locator('#classes-u script, #model-facts img, #history img').count(), 0, 'no element was made from server text')
    t.match(await page.textContent('#curve-info'), /Not fitted yet/)

    // A screenshot (test/artifacts) of the fitted model with the slider between the fitted point and the uncalibrated one.
    await page.selectOption('#model-select', MODEL)
    await page.waitForSelector('#curve-box svg polyline.curve')
    await moveSlider(page, fitted.gamma / 2)
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    t.same(problems, [], 'no page errors, no CSP refusals')
  })
})
