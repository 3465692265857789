// calserve's calibration dashboard. Hand-written, no dependencies, no build step.
//
// Rules this file keeps:
// - Nothing from the server is ever parsed as HTML: text goes in with textContent (or new Option),
//   SVG is built with createElementNS. Model names, labels, notes and authors are data, not markup.
// - The token lives in the `token` variable of this module and nowhere else (no storage, no cookie,
//   no URL). Once typed it is sent as `Authorization: Bearer …` on every request, reads included:
//   with CALSERVE_API_TOKENS set, the server answers no read without one.
// - Nothing shown belongs to another model or a state that has passed: what a model lacks (a curve,
//   absent classes) empties and hides the controls that would act on it.
// - GET /v1/models is polled every POLL_MS; when the selected model's calibration version changes
//   (another tab, another replica, the CLI) its calibration, history and curve are reloaded.

const POLL_MS = 2000
const REQUEST_TIMEOUT_MS = 15000
const SVG_NS = 'http://www.w3.org/2000/svg'
/** Versions per history page; "Show older versions" asks for the next. */
const HISTORY_PAGE = 20

let token = ''

const state = {
  /** @type {any[]} the last GET /v1/models answer */
  models: [],
  /** @type {string | null} */
  selected: null,
  /** What the detail panel shows; `calVersion` is the calibration version it was loaded at. */
  detail: { name: null, calVersion: null, state: null, model: null, history: [], historyNext: null, curve: null, curveError: null },
  /** Index into detail.curve.points of the slider's point. */
  pointIndex: -1,
  busy: false,
}

const $ = (id) => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`missing #${id}`)
  return el
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: every piece of text is set with textContent.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else if (k === 'text') node.textContent = v
    else node.setAttribute(k, v)
  }
  for (const c of children) node.append(c)
  return node
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  return node
}

function svgText(x, y, text, attrs = {}) {
  const t = svg('text', { x, y, ...attrs })
  t.textContent = text
  return t
}

function fillFacts(dl, rows) {
  dl.replaceChildren()
  for (const [name, value, id] of rows) {
    const dd = el('dd', { text: value === null || value === undefined || value === '' ? '—' : String(value) })
    if (id) dd.id = id
    dl.append(el('dt', { text: name }), dd)
  }
}

function fmtRate(v) {
  return v === null || v === undefined ? 'n/a' : v.toFixed(4)
}

function fmtGamma(g) {
  if (g === null || g === undefined) return '—'
  if (!Number.isFinite(g)) return String(g)
  return Math.abs(g) >= 1e4 || (g !== 0 && Math.abs(g) < 1e-3) ? g.toExponential(3) : String(Number(g.toFixed(4)))
}

function fmtWhen(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString()
}

/** 2ab/(a+b); null when either is undefined, 0 when both are 0. */
export function harmonicMean(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return null
  return a + b === 0 ? 0 : (2 * a * b) / (a + b)
}

/**
 * The curve point whose interval contains γ.
 *
 * Each stored point stands for one interval between consecutive breakpoints of γ and sits at that
 * interval's midpoint (±1 beyond the outer breakpoints). The page has the points, not the
 * breakpoints, so it takes every interval boundary to lie midway between two consecutive point
 * gammas: γ belongs to the point with the nearest gamma, the upper one on an exact tie. That is
 * exact at a point's own gamma (which is what "apply" sends) and only approximate near a boundary:
 * the real breakpoint lies somewhere between the two midpoints, not necessarily halfway, and where
 * the stored curve was subsampled (to at most 2001 points) the skipped intervals are missing.
 */
export function pointIndexAt(points, gamma) {
  const n = points.length
  if (n === 0) return -1
  // Last index whose gamma ≤ γ (binary search; points are in γ order).
  let lo = 0
  let hi = n - 1
  if (gamma < points[0].gamma) return 0
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (points[mid].gamma <= gamma) lo = mid
    else hi = mid - 1
  }
  if (lo === n - 1) return lo
  return gamma - points[lo].gamma < points[lo + 1].gamma - gamma ? lo : lo + 1
}

// ---------------------------------------------------------------------------------------------
// HTTP

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  let res
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      // A request that never ends (a stuck connection) must not stop the polling for good.
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `cannot reach calserve (${err && err.message ? err.message : 'network error'})`)
  }
  let payload = null
  const text = await res.text()
  if (text) {
    try {
      payload = JSON.parse(text)
    } catch {
      payload = null
    }
  }
  if (!res.ok) {
    const e = payload && typeof payload === 'object' && payload.error ? payload.error : null
    throw new ApiError(
      res.status,
      e && typeof e.code === 'string' ? e.code : `HTTP_${res.status}`,
      e && typeof e.message === 'string' ? e.message : `${method} ${path} answered ${res.status}`,
      e ? e.details : undefined,
    )
  }
  return payload
}

const modelPath = (name) => `/v1/models/${encodeURIComponent(name)}`

// ---------------------------------------------------------------------------------------------
// Status line

function setStatus(kind, message) {
  const s = $('status')
  s.className = `status ${kind}`
  s.textContent = message
}

function explain(err, action) {
  if (!(err instanceof ApiError)) return `${action} failed: ${err && err.message ? err.message : String(err)}`
  if (err.status === 401 || err.status === 403) {
    $('token').focus()
    return `${action} was refused (${err.status} ${err.code}): ${err.message}. Enter a valid ${err.status === 403 ? 'admin ' : ''}token above.`
  }
  if (err.status === 0) return `${action} failed: ${err.message}`
  return `${action} failed (${err.status} ${err.code}): ${err.message}`
}

// ---------------------------------------------------------------------------------------------
// Overview table and model selector

let overviewShown = ''

function renderOverview() {
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`
  // Rebuild only on a change, so a click on a row isn't lost to a re-render every poll.
  const shown = JSON.stringify([state.selected, state.models])
  if (shown === overviewShown) return
  overviewShown = shown
  const body = $('models').tBodies[0]
  body.replaceChildren()
  for (const m of state.models) {
    const cal = m.calibration
    const pick = el('button', { type: 'button', class: 'link', text: m.name })
    pick.addEventListener('click', () => select(m.name))
    const stateCell = el('td', { class: `state ${String(m.state).toLowerCase()}`, text: m.state })
    if (m.reason) stateCell.title = m.reason
    const row = el(
      'tr',
      { 'data-model': m.name },
      el('td', {}, pick),
      stateCell,
      el('td', { text: m.version === null ? '—' : String(m.version) }),
      el('td', { text: m.execution_provider ?? '—' }),
      el('td', { class: 'num', text: cal ? String(cal.version) : '—' }),
      el('td', { class: 'num', text: cal ? fmtGamma(cal.gamma) : '—' }),
      el('td', { class: 'num', text: cal ? fmtGamma(cal.temperature) : '—' }),
      el('td', { text: cal ? cal.method : '—' }),
    )
    if (m.name === state.selected) row.classList.add('selected')
    body.append(row)
  }
  const sel = $('model-select')
  const names = state.models.map((m) => m.name)
  const current = [...sel.options].map((o) => o.value)
  if (names.join('\u0000') !== current.join('\u0000')) {
    sel.replaceChildren(...names.map((n) => new Option(n, n)))
  }
  if (state.selected !== null) sel.value = state.selected
}

async function select(name) {
  if (!state.models.some((m) => m.name === name)) return
  state.selected = name
  window.history.replaceState(null, '', `#model=${encodeURIComponent(name)}`)
  renderOverview()
  await loadDetail({ resetSlider: true })
}

// ---------------------------------------------------------------------------------------------
// Detail: model facts, active calibration, curve, history

function selectedModel() {
  return state.models.find((m) => m.name === state.selected) ?? null
}

async function loadDetail({ resetSlider }) {
  const m = selectedModel()
  if (!m) return
  const name = m.name
  let history = []
  let historyNext = null
  let curve = null
  let curveError = null
  if (m.state === 'READY') {
    const [h, c] = await Promise.allSettled([
      api('GET', `${modelPath(name)}/calibration/history?limit=${HISTORY_PAGE}`),
      api('GET', `${modelPath(name)}/calibration/curve`),
    ])
    if (h.status === 'fulfilled') ({ versions: history, next: historyNext } = h.value)
    else setStatus('error', explain(h.reason, 'Loading the history'))
    if (c.status === 'fulfilled') curve = c.value
    else curveError = c.reason
  }
  // The user may have picked another model while this loaded.
  if (state.selected !== name) return
  const previousCurve = state.detail.name === name ? state.detail.curve : null
  state.detail = { name, calVersion: m.calibration ? m.calibration.version : null, state: m.state, model: m, history, historyNext, curve, curveError }
  const newFit = !previousCurve || !curve || previousCurve.version !== curve.version
  renderDetail({ resetSlider: resetSlider || newFit })
}

function renderDetail({ resetSlider }) {
  const { model: m, history, curve, curveError } = state.detail
  $('detail').hidden = false
  fillFacts($('model-facts'), [
    ['state', m.state, 'fact-state'],
    ...(m.reason ? [['reason', m.reason, 'fact-reason']] : []),
    ['served version', m.version, 'fact-version'],
    ['execution provider', m.execution_provider, 'fact-provider'],
    ...(m.execution_provider_fallback ? [['provider fallback', m.execution_provider_fallback]] : []),
    ['description', m.description],
  ])
  $('classes-s').replaceChildren(...m.fine_tuning_classes.map((c) => el('li', { text: c })))
  $('classes-u').replaceChildren(...m.absent_classes.map((c) => el('li', { text: c })))
  const cal = m.calibration
  fillFacts(
    $('active-calibration'),
    cal
      ? [
          ['version', cal.version, 'cal-version'],
          ['γ', fmtGamma(cal.gamma), 'cal-gamma'],
          ['temperature', fmtGamma(cal.temperature), 'cal-temperature'],
          ['method', cal.method + (cal.source_version !== null ? ` of version ${cal.source_version}` : ''), 'cal-method'],
          ['objective', cal.objective],
          ['when', fmtWhen(cal.created_at), 'cal-when'],
          ['by', cal.created_by, 'cal-by'],
          ['note', cal.note, 'cal-note'],
          ['samples', cal.n_samples],
        ]
      : [['calibration', m.state === 'READY' ? 'none' : `model is ${m.state}`, 'cal-version']],
  )
  if (cal) document.getElementById('cal-gamma').dataset.value = String(cal.gamma)
  renderHistory(history, cal)
  renderCurve(curve, curveError, { resetSlider })
}

function renderHistory(versions, active) {
  const body = $('history').tBodies[0]
  body.replaceChildren()
  $('history-more').hidden = state.detail.historyNext === null
  for (const r of versions) {
    const cell = el('td')
    if (active && r.version !== active.version && r.version >= 1) {
      const b = el('button', { type: 'button', class: 'rollback', 'data-version': String(r.version), text: `Roll back to ${r.version}` })
      b.addEventListener('click', () => rollback(r.version))
      cell.append(b)
    } else if (active && r.version === active.version) {
      cell.append(el('span', { class: 'badge', text: 'active' }))
    }
    body.append(
      el(
        'tr',
        { 'data-version': String(r.version) },
        el('td', { class: 'num', text: String(r.version) }),
        el('td', { class: 'num', text: fmtGamma(r.gamma) }),
        el('td', { class: 'num', text: fmtGamma(r.temperature) }),
        el('td', { text: r.method + (r.source_version !== null ? ` of ${r.source_version}` : '') + (r.objective ? ` (${r.objective})` : '') }),
        el('td', { text: fmtWhen(r.created_at), title: r.created_at ?? '' }),
        el('td', { text: r.created_by ?? '—' }),
        el('td', { class: 'note', text: r.note ?? '' }),
        cell,
      ),
    )
  }
  if (versions.length === 0)
    body.append(el('tr', {}, el('td', { colspan: '8', class: 'hint', text: 'no stored calibration: the model runs uncalibrated (γ = 0)' })))
}

/** Appends the next (older) history page: the cursor is the `next` of the last page shown. */
async function loadOlder() {
  const { name, historyNext } = state.detail
  if (name === null || historyNext === null) return
  try {
    const page = await api('GET', `${modelPath(name)}/calibration/history?limit=${HISTORY_PAGE}&before=${historyNext}`)
    // Another model, or a reload of the first page, since the click: this page belongs to neither.
    if (state.detail.name !== name || state.detail.historyNext !== historyNext) return
    state.detail.history = [...state.detail.history, ...page.versions]
    state.detail.historyNext = page.next
    renderHistory(state.detail.history, state.detail.model.calibration)
  } catch (err) {
    setStatus('error', explain(err, 'Loading older versions'))
  }
}

// ---------------------------------------------------------------------------------------------
// The seen–absent curve: Acc_U/Y on x, Acc_S/Y on y, both over [0, 1].

const W = 520
const H = 440
const PLOT = { left: 62, right: 500, top: 16, bottom: 380 }
const px = (u) => PLOT.left + Math.min(1, Math.max(0, u)) * (PLOT.right - PLOT.left)
const py = (s) => PLOT.bottom - Math.min(1, Math.max(0, s)) * (PLOT.bottom - PLOT.top)
// Drawn in this order; the active mark is smaller so the fitted one shows around it when they coincide.
const MARK_RADIUS = { uncalibrated: 6, fitted: 7.5, active: 4.5, reference: 6, cursor: 9 }
const onCurve = (p) => p.acc_s_y !== null && p.acc_u_y !== null

function renderCurve(curve, curveError, { resetSlider }) {
  const box = $('curve-box')
  const controls = $('curve-controls')
  const info = $('curve-info')
  if (!curve) {
    box.replaceChildren()
    controls.hidden = true
    state.pointIndex = -1
    clearReadout()
    const m = state.detail.model
    if (m.state !== 'READY') info.textContent = `The model is ${m.state}.`
    else if (curveError instanceof ApiError && curveError.status === 404)
      info.textContent =
        m.absent_classes.length === 0
          ? 'This model has no absent classes, so γ has no effect and there is nothing to fit.'
          : 'Not fitted yet: POST a labelled set to /v1/models/{name}/calibration/fit (or run `calserve fit`).'
    else info.textContent = explain(curveError, 'Loading the curve')
    return
  }
  const pts = curve.points
  info.textContent = `Fit of calibration version ${curve.version}: ${pts.length} points, AUSUC ${curve.ausuc === null ? 'n/a' : curve.ausuc.toFixed(4)}.`
  if (!pts.some(onCurve)) info.textContent += ' The fit set lacks samples of fine-tuning or of absent classes, so there is no seen–absent curve to draw.'

  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'seen–absent curve' })
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    chart.append(
      svg('line', { x1: px(t), y1: PLOT.top, x2: px(t), y2: PLOT.bottom, class: 'grid' }),
      svg('line', { x1: PLOT.left, y1: py(t), x2: PLOT.right, y2: py(t), class: 'grid' }),
      svgText(px(t), PLOT.bottom + 18, t.toFixed(1), { 'text-anchor': 'middle', class: 'tick' }),
      svgText(PLOT.left - 8, py(t) + 4, t.toFixed(1), { 'text-anchor': 'end', class: 'tick' }),
    )
  }
  chart.append(
    svg('rect', { x: PLOT.left, y: PLOT.top, width: PLOT.right - PLOT.left, height: PLOT.bottom - PLOT.top, class: 'frame' }),
    svgText((PLOT.left + PLOT.right) / 2, H - 14, 'Acc_U/Y (absent classes)', { 'text-anchor': 'middle', class: 'axis' }),
    svgText(18, (PLOT.top + PLOT.bottom) / 2, 'Acc_S/Y (fine-tuning classes)', {
      'text-anchor': 'middle',
      class: 'axis',
      transform: `rotate(-90 18 ${(PLOT.top + PLOT.bottom) / 2})`,
    }),
  )
  const drawn = pts.filter(onCurve)
  chart.append(svg('polyline', { class: 'curve', points: drawn.map((p) => `${px(p.acc_u_y).toFixed(2)},${py(p.acc_s_y).toFixed(2)}`).join(' ') }))

  const marks = svg('g', { class: 'marks' })
  for (const mark of curve.marks) marks.append(markNode(mark.name, mark))
  chart.append(marks)
  // The reference mark (a fit with reference_model) is another model's point: named in the legend only when drawn.
  const reference = curve.marks.find((m) => m.name === 'reference')
  $('legend-reference').hidden = !reference
  if (reference) $('legend-reference').lastChild.textContent = `reference model ${reference.model ?? ''} (uncalibrated)`
  box.replaceChildren(chart)
  drawActiveMark()

  controls.hidden = false
  const slider = $('gamma-slider')
  const active = state.detail.model.calibration
  const gammas = [pts[0].gamma, pts[pts.length - 1].gamma, ...curve.marks.map((m) => m.gamma), active ? active.gamma : 0]
  const lo = Math.min(...gammas)
  const hi = Math.max(...gammas)
  slider.min = String(lo)
  slider.max = String(hi)
  $('slider-min').textContent = fmtGamma(lo)
  $('slider-max').textContent = fmtGamma(hi)
  if (resetSlider || state.pointIndex < 0 || state.pointIndex >= pts.length) {
    const g = active ? active.gamma : 0
    slider.value = String(g)
    state.pointIndex = pointIndexAt(pts, g)
  }
  renderCursor()
}

function markNode(name, { gamma, acc_s_y, acc_u_y, model }) {
  const g = svg('g', { 'data-mark': name, class: `mark ${name}` })
  if (acc_s_y === null || acc_u_y === null) return g
  g.append(svg('circle', { cx: px(acc_u_y).toFixed(2), cy: py(acc_s_y).toFixed(2), r: MARK_RADIUS[name] ?? 6 }))
  const title = svg('title')
  const what = model === undefined ? `${name}: γ = ${fmtGamma(gamma)}` : `${name} model ${model}, uncalibrated`
  title.textContent = `${what}, Acc_S/Y = ${fmtRate(acc_s_y)}, Acc_U/Y = ${fmtRate(acc_u_y)}`
  g.append(title)
  return g
}

/** The active calibration's point, read from the curve at its γ (it may be newer than the fit). */
function drawActiveMark() {
  const chart = document.querySelector('#curve-box svg .marks')
  const curve = state.detail.curve
  if (!chart || !curve) return
  chart.querySelector('[data-mark="active"]')?.remove()
  const cal = state.detail.model.calibration
  const g = cal ? cal.gamma : 0
  const p = curve.points[pointIndexAt(curve.points, g)]
  chart.append(markNode('active', { gamma: g, acc_s_y: p.acc_s_y, acc_u_y: p.acc_u_y }))
}

/** Empties the slider's readout and disables Apply: nothing to read, nothing to apply. */
function clearReadout() {
  for (const id of ['at-gamma', 'at-acc-s-y', 'at-acc-u-y', 'at-acc-y-y', 'at-hm']) {
    const node = $(id)
    node.textContent = ''
    node.dataset.value = ''
  }
  const apply = $('apply')
  apply.textContent = 'Apply this γ'
  apply.disabled = true
  delete apply.dataset.gamma
}

function renderCursor() {
  const curve = state.detail.curve
  if (!curve || state.pointIndex < 0) return
  const p = curve.points[state.pointIndex]
  const marks = document.querySelector('#curve-box svg .marks')
  if (marks) {
    marks.querySelector('[data-mark="cursor"]')?.remove()
    marks.append(markNode('cursor', p))
  }
  const set = (id, text, value) => {
    const node = $(id)
    node.textContent = text
    node.dataset.value = value === null ? '' : String(value)
  }
  set('at-gamma', fmtGamma(p.gamma), p.gamma)
  set('at-acc-s-y', fmtRate(p.acc_s_y), p.acc_s_y)
  set('at-acc-u-y', fmtRate(p.acc_u_y), p.acc_u_y)
  set('at-acc-y-y', fmtRate(p.acc_y_y), p.acc_y_y)
  const hm = harmonicMean(p.acc_s_y, p.acc_u_y)
  set('at-hm', fmtRate(hm), hm)
  const apply = $('apply')
  apply.textContent = `Apply γ = ${fmtGamma(p.gamma)}`
  apply.dataset.gamma = String(p.gamma)
  apply.disabled = false
}

function onSlider() {
  const curve = state.detail.curve
  if (!curve) return
  const g = Number($('gamma-slider').value)
  if (!Number.isFinite(g)) return
  state.pointIndex = pointIndexAt(curve.points, g)
  renderCursor()
}

/** Arrow keys step from one curve point to the next rather than by a fixed γ. */
function onSliderKey(e) {
  const curve = state.detail.curve
  if (!curve) return
  const step = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0
  if (step === 0) return
  e.preventDefault()
  const i = Math.min(curve.points.length - 1, Math.max(0, state.pointIndex + step))
  state.pointIndex = i
  $('gamma-slider').value = String(curve.points[i].gamma)
  renderCursor()
}

// ---------------------------------------------------------------------------------------------
// Admin actions

async function write(action, path, body) {
  if (state.busy) return
  state.busy = true
  document.body.classList.add('busy')
  const name = state.selected
  try {
    const record = await api(path.method, path.url, body)
    setStatus('ok', `${action}: ${name} now runs calibration version ${record.version} (γ = ${fmtGamma(record.gamma)}).`)
    // The note went with this change; the next one needs its own.
    $('note').value = ''
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      setStatus(
        'error',
        `${action} not done: someone else changed the calibration of ${name} first (${err.message}). The page has reloaded it; check and try again.`,
      )
    } else {
      setStatus('error', explain(err, action))
    }
  } finally {
    await poll({ force: true })
    state.busy = false
    document.body.classList.remove('busy')
  }
}

function applyGamma() {
  const curve = state.detail.curve
  const cal = state.detail.model && state.detail.model.calibration
  if (!curve || state.pointIndex < 0 || !cal) return
  const gamma = curve.points[state.pointIndex].gamma
  const note = $('note').value.trim()
  return write(
    'Apply γ',
    { method: 'PUT', url: `${modelPath(state.selected)}/calibration` },
    {
      gamma,
      temperature: cal.temperature,
      expected_version: cal.version,
      note: note || `set on the dashboard from the seen–absent curve of fit version ${curve.version}`,
    },
  )
}

function rollback(version) {
  const cal = state.detail.model && state.detail.model.calibration
  if (!cal) return
  const target = state.detail.history.find((r) => r.version === version)
  const what = target ? ` (γ = ${fmtGamma(target.gamma)}, T = ${fmtGamma(target.temperature)})` : ''
  // A rollback replaces what every replica serves: ask first, as the button sits among many.
  if (!window.confirm(`Roll ${state.selected} back to calibration version ${version}${what}? It becomes the active calibration at once, as a new version.`)) {
    setStatus('info', `Roll back to version ${version}: cancelled.`)
    return
  }
  const note = $('note').value.trim()
  return write(
    `Roll back to version ${version}`,
    { method: 'POST', url: `${modelPath(state.selected)}/calibration/rollback` },
    {
      version,
      expected_version: cal.version,
      ...(note ? { note } : {}),
    },
  )
}

// ---------------------------------------------------------------------------------------------
// Polling

let pollTimer = null
let inFlight = null
let failing = false

/** One poll at a time; a forced poll (after a write) waits for the one in flight, then runs. */
async function poll({ force = false } = {}) {
  while (inFlight) {
    await inFlight
    if (!force) return
  }
  clearTimeout(pollTimer)
  inFlight = pollOnce(force).finally(() => {
    inFlight = null
    clearTimeout(pollTimer)
    pollTimer = setTimeout(() => poll(), POLL_MS)
  })
  return inFlight
}

async function pollOnce(force) {
  try {
    const { models } = await api('GET', '/v1/models')
    state.models = models
    if (state.selected === null || !models.some((m) => m.name === state.selected)) {
      const fromHash = decodeURIComponent((location.hash.match(/^#model=(.*)$/) || [])[1] || '')
      const initial = models.find((m) => m.name === fromHash) ?? models.find((m) => m.state === 'READY' && m.absent_classes.length > 0) ?? models[0]
      state.selected = initial ? initial.name : null
    }
    renderOverview()
    if ($('status').classList.contains('loading')) setStatus('info', 'Ready.')
    else if (failing) setStatus('info', 'Connected again.')
    failing = false
    const m = selectedModel()
    if (m) {
      const version = m.calibration ? m.calibration.version : null
      const changed = state.detail.name !== m.name || state.detail.calVersion !== version || state.detail.state !== m.state
      // (Not while a write of this page is being answered: its own status line says what happened.)
      if (changed && state.detail.name === m.name && state.detail.calVersion !== null && !force && !state.busy)
        setStatus('info', `${m.name}: calibration changed elsewhere to version ${version} (${m.calibration ? m.calibration.method : 'none'}).`)
      if (changed || force) await loadDetail({ resetSlider: false })
    } else {
      $('detail').hidden = true
    }
  } catch (err) {
    failing = true
    setStatus('error', explain(err, 'Refreshing the model list'))
  }
}

// ---------------------------------------------------------------------------------------------

function start() {
  $('token').addEventListener('input', (e) => {
    token = e.target.value
    // Reads may have been refused for the want of it: try again now rather than at the next poll.
    if (failing) poll({ force: true })
  })
  $('history-more').addEventListener('click', loadOlder)
  $('model-select').addEventListener('change', (e) => select(e.target.value))
  $('gamma-slider').addEventListener('input', onSlider)
  $('gamma-slider').addEventListener('keydown', onSliderKey)
  $('apply').addEventListener('click', applyGamma)
  setStatus('info loading', 'Loading…')
  poll()
}

start()
