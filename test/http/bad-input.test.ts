// Every bad request gets the named 4xx in the one error body shape, and changes nothing: the
// calibration and its history read the same after each refused request.
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, copyFixtures } from '../helper.js'
import { errorOf } from './expected.js'

interface Case {
  what: string
  method: 'GET' | 'POST' | 'PUT'
  url: string
  /** An object is sent as JSON; a string is sent raw with content-type application/json. */
  payload?: unknown
  status: number
  code: string
  /** Text the message must contain (the field it names). */
  names?: string | RegExp
  details?: Record<string, unknown>
}

const PREDICT = '/v1/models/tiny/predict'
const CAL = '/v1/models/tiny/calibration'
const ROLLBACK = '/v1/models/tiny/calibration/rollback'
const BAD = 'CALSERVE_BAD_INPUT'

const cases: Case[] = [
  { what: 'too few numbers', method: 'POST', url: PREDICT, payload: { inputs: [[1, 2]] }, status: 400, code: BAD, names: 'inputs[0]' },
  {
    what: 'too many numbers',
    method: 'POST',
    url: PREDICT,
    payload: {
      inputs: [
        [1, 2, 3],
        [1, 2, 3, 4],
      ],
    },
    status: 400,
    code: BAD,
    names: 'inputs[1]',
  },
  { what: 'a string number', method: 'POST', url: PREDICT, payload: { inputs: [[1, '2', 3]] }, status: 400, code: BAD, names: 'inputs[0]' },
  { what: 'a string sample', method: 'POST', url: PREDICT, payload: { inputs: ['1,2,3'] }, status: 400, code: BAD, names: 'inputs' },
  { what: 'null', method: 'POST', url: PREDICT, payload: { inputs: [[1, null, 3]] }, status: 400, code: BAD, names: 'inputs[0]' },
  { what: 'a nested object', method: 'POST', url: PREDICT, payload: { inputs: [[1, { v: 2 }, 3]] }, status: 400, code: BAD, names: 'inputs[0]' },
  { what: 'a boolean', method: 'POST', url: PREDICT, payload: { inputs: [[1, true, 3]] }, status: 400, code: BAD, names: 'inputs[0]' },
  { what: '1e999 (Infinity)', method: 'POST', url: PREDICT, payload: '{"inputs":[[1e999,0,0]]}', status: 400, code: BAD, names: 'inputs[0]' },
  { what: '-1e999', method: 'POST', url: PREDICT, payload: '{"inputs":[[0,0,0],[0,-1e999,0]]}', status: 400, code: BAD, names: 'inputs[1]' },
  { what: 'beyond float32', method: 'POST', url: PREDICT, payload: { inputs: [[0, 1e39, 0]] }, status: 400, code: BAD, names: 'float32' },
  { what: 'empty inputs', method: 'POST', url: PREDICT, payload: { inputs: [] }, status: 400, code: BAD, names: 'inputs' },
  { what: 'missing inputs', method: 'POST', url: PREDICT, payload: {}, status: 400, code: BAD, names: 'inputs' },
  { what: 'inputs not an array', method: 'POST', url: PREDICT, payload: { inputs: 3 }, status: 400, code: BAD, names: 'inputs' },
  { what: 'top_k 0', method: 'POST', url: PREDICT, payload: { inputs: [[1, 2, 3]], top_k: 0 }, status: 400, code: BAD, names: 'top_k' },
  { what: 'top_k > classes', method: 'POST', url: PREDICT, payload: { inputs: [[1, 2, 3]], top_k: 5 }, status: 400, code: BAD, names: 'top_k' },
  { what: 'top_k not an integer', method: 'POST', url: PREDICT, payload: { inputs: [[1, 2, 3]], top_k: 1.5 }, status: 400, code: BAD, names: 'top_k' },
  {
    what: 'calibrated not a boolean',
    method: 'POST',
    url: PREDICT,
    payload: { inputs: [[1, 2, 3]], calibrated: 'no' },
    status: 400,
    code: BAD,
    names: 'calibrated',
  },
  { what: 'invalid JSON', method: 'POST', url: PREDICT, payload: '{"inputs": [[1,2,3]', status: 400, code: BAD },
  {
    what: 'unknown model',
    method: 'POST',
    url: '/v1/models/nope/predict',
    payload: { inputs: [[1, 2, 3]] },
    status: 404,
    code: 'CALSERVE_MODEL_NOT_FOUND',
    names: 'nope',
    details: { model: 'nope' },
  },
  { what: 'invalid model name', method: 'POST', url: '/v1/models/ti%24ny/predict', payload: { inputs: [[1, 2, 3]] }, status: 400, code: BAD, names: 'name' },
  {
    what: 'FAILED model',
    method: 'POST',
    url: '/v1/models/broken/predict',
    payload: { inputs: [[1, 2, 3]] },
    status: 503,
    code: 'CALSERVE_MODEL_NOT_READY',
    names: 'FAILED',
    details: { model: 'broken', state: 'FAILED' },
  },

  { what: 'PUT gamma as a string', method: 'PUT', url: CAL, payload: { gamma: '0.5' }, status: 400, code: BAD, names: 'gamma' },
  { what: 'PUT without gamma', method: 'PUT', url: CAL, payload: { temperature: 2 }, status: 400, code: BAD, names: 'gamma' },
  { what: 'PUT gamma 1e999', method: 'PUT', url: CAL, payload: '{"gamma":1e999}', status: 400, code: BAD, names: 'gamma' },
  { what: 'PUT gamma null', method: 'PUT', url: CAL, payload: { gamma: null }, status: 400, code: BAD, names: 'gamma' },
  { what: 'PUT negative temperature', method: 'PUT', url: CAL, payload: { gamma: 1, temperature: -1 }, status: 400, code: BAD, names: 'temperature' },
  { what: 'PUT zero temperature', method: 'PUT', url: CAL, payload: { gamma: 1, temperature: 0 }, status: 400, code: BAD, names: 'temperature' },
  {
    what: 'PUT expected_version wrong',
    method: 'PUT',
    url: CAL,
    payload: { gamma: 1, expected_version: 0 },
    status: 409,
    code: 'CALSERVE_VERSION_CONFLICT',
    details: { expected_version: 0, active_version: 1 },
  },
  { what: 'PUT invalid JSON', method: 'PUT', url: CAL, payload: '{gamma: 1}', status: 400, code: BAD },
  { what: 'PUT on an unknown model', method: 'PUT', url: '/v1/models/nope/calibration', payload: { gamma: 1 }, status: 404, code: 'CALSERVE_MODEL_NOT_FOUND' },
  { what: 'PUT on a FAILED model', method: 'PUT', url: '/v1/models/broken/calibration', payload: { gamma: 1 }, status: 503, code: 'CALSERVE_MODEL_NOT_READY' },
  {
    what: 'rollback to a version that does not exist',
    method: 'POST',
    url: ROLLBACK,
    payload: { version: 99 },
    status: 404,
    code: 'CALSERVE_VERSION_NOT_FOUND',
    names: '99',
    details: { version: 99 },
  },
  { what: 'rollback to version 0', method: 'POST', url: ROLLBACK, payload: { version: 0 }, status: 400, code: BAD, names: 'version' },
  { what: 'rollback without a version', method: 'POST', url: ROLLBACK, payload: {}, status: 400, code: BAD, names: 'version' },
  {
    what: 'rollback expected_version wrong',
    method: 'POST',
    url: ROLLBACK,
    payload: { version: 1, expected_version: 5 },
    status: 409,
    code: 'CALSERVE_VERSION_CONFLICT',
    details: { active_version: 1 },
  },
  { what: 'GET calibration of an unknown model', method: 'GET', url: '/v1/models/nope/calibration', status: 404, code: 'CALSERVE_MODEL_NOT_FOUND' },
  { what: 'GET an unknown model', method: 'GET', url: '/v1/models/nope', status: 404, code: 'CALSERVE_MODEL_NOT_FOUND' },
  { what: 'unknown route', method: 'GET', url: '/v2/anything', status: 404, code: 'CALSERVE_NOT_FOUND', names: '/v2/anything' },
  { what: 'unknown method on a route', method: 'PUT', url: PREDICT, payload: { inputs: [[1, 2, 3]] }, status: 404, code: 'CALSERVE_NOT_FOUND' },
]

t.test('bad requests', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  // A model that fails to load, next to tiny.
  const broken = join(repo, 'broken')
  cpSync(join(repo, 'tiny'), broken, { recursive: true })
  writeFileSync(join(broken, '2', 'model.onnx'), 'not an onnx file')
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })

  // One calibration in place, so "unchanged" has something to compare.
  const set = await app.inject({ method: 'PUT', url: CAL, payload: { gamma: 0.5, temperature: 2 } })
  t.equal(set.statusCode, 200, set.body)
  const snapshot = async () => ({
    active: (await app.inject({ url: CAL })).json(),
    history: (await app.inject({ url: `${CAL}/history` })).json(),
    store: await app.store.history('tiny', 2),
    model: (await app.inject({ url: '/v1/models/tiny' })).json().calibration,
  })
  const before = await snapshot()
  t.equal(before.active.version, 1)

  for (const c of cases) {
    const raw = typeof c.payload === 'string'
    const res = await app.inject({
      method: c.method,
      url: c.url,
      ...(c.payload === undefined
        ? {}
        : raw
          ? { payload: c.payload as string, headers: { 'content-type': 'application/json' } }
          : { payload: c.payload as object }),
    })
    const err = errorOf(t, res, c.status, c.code, c.what)
    if (c.names) t.match(err.message, typeof c.names === 'string' ? new RegExp(escape(c.names)) : c.names, `${c.what}: names ${c.names}`)
    if (c.details) t.match(err.details, c.details, `${c.what}: details`)
    t.same(await snapshot(), before, `${c.what}: nothing changed`)
  }

  // And the model still serves afterwards.
  const ok = await app.inject({ method: 'POST', url: PREDICT, payload: { inputs: [[1, 2, 3]] } })
  t.equal(ok.statusCode, 200, ok.body)
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('unknown request fields are refused, not ignored: a typo must not skip a check', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 1 } })
  const typo = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', payload: { gamma: 2, expected_versoin: 0 } })
  t.equal(typo.statusCode, 400)
  t.match(typo.json().error.message, /expected_versoin/)
  const fitTypo = await app.inject({ method: 'POST', url: '/v1/models/tiny/calibration/fit', payload: { inputs: [[1, 2, 3]], labels: ['cat'], dryrun: true } })
  t.equal(fitTypo.statusCode, 400, 'a misspelt dry_run must not store a fit')
  const queryTypo = await app.inject({
    method: 'POST',
    url: '/v1/models/tiny/calibration/fit?dryrun=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: '{"input":[1,2,3],"label":"cat"}\n',
  })
  t.equal(queryTypo.statusCode, 400)
  const predictTypo = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [[1, 2, 3]], topk: 2 } })
  t.equal(predictTypo.statusCode, 400)
  const history = (await app.inject({ url: '/v1/models/tiny/calibration/history' })).json()
  t.equal(history.versions.length, 1, 'nothing was stored')
})
