// Property-based fuzzing of every route (the OpenAPI document's, the UI's, the docs' and unknown
// ones) with random and hostile requests: wrong methods and types, hostile paths and query strings,
// content-type variants, truncated and deeply nested JSON, __proto__/constructor keys, odd unicode,
// huge and empty arrays, numbers JSON can't hold, broken ndjson and binary of odd lengths.
//
// Per case: no 5xx (a 503 only for overload / a model not ready, with the error body), every 4xx
// in the one error shape. After the run: the store is exactly as before (no write can succeed —
// writes carry no admin token, or the admin token with a stale expected_version), and the model
// still predicts correctly. A smaller fuzz over real sockets (node:net) sends truncated bodies and
// lying Content-Lengths to a spawned process and checks that it stays up.
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { REPO_ROOT, start, waitReady, type Server } from '../e2e/process.js'
import { build, copyFixtures, tempDir } from '../helper.js'
import { checkPrediction, expectedPrediction, fixture, logitsOf } from '../http/expected.js'

const ADMIN = 'fuzz-admin-0123456789abcdef'
const READER = 'fuzz-reader-0123456789abcdef'
const SEED = Number(process.env.CALSERVE_FUZZ_SEED ?? 20241129)
/** A version no model reaches during the run: every admin write carries it, so none can succeed. */
const STALE = 987_654

// ---------------------------------------------------------------------------------------------
// Routes: every path of the OpenAPI document, the pages that stay out of it, and unknown ones.

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const
type Method = (typeof METHODS)[number]

const openapi = JSON.parse(readFileSync(join(REPO_ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, Record<string, unknown>> }
const documented: Array<{ method: Method; path: string }> = Object.entries(openapi.paths).flatMap(([path, ops]) =>
  Object.keys(ops).map((m) => ({ method: m.toUpperCase() as Method, path })),
)
const TEMPLATES = [
  ...new Set([
    ...documented.map((r) => r.path),
    '/',
    '/ui',
    '/ui/index.html',
    '/ui/app.js',
    '/ui/style.css',
    '/docs',
    '/docs/',
    '/docs/json',
    '/docs/static/index.html',
    '/openapi.json',
    '/v2/models',
    '/v1',
    '/v1/models/{name}/calibration/nope',
    '/v1/jobs',
    '/v1/models/{name}/predict/{name}',
    '/health',
  ]),
]

// ---------------------------------------------------------------------------------------------
// Pieces.

const MODEL_NAMES = ['tiny', 'image', 'two_outputs', 'broken', 'nope']
const hostileName = fc.oneof(
  fc.constantFrom(
    ...MODEL_NAMES,
    '..',
    '../..',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    '%2e%2e%2f%2e%2e%2f',
    'tiny%2Fpredict',
    'tiny%00',
    '%00',
    '%',
    '%zz',
    '%E0%A4%A',
    '%C0%AE%C0%AE',
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'tiny;rm -rf',
    'tiny?x=1',
    'tiny#frag',
    ' tiny',
    'TINY',
    'a'.repeat(5000),
    '%F0%9F%92%A9',
    '%ED%A0%80',
    '\u0000',
    'тини',
    'ti\u200bny',
  ),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => encodeURIComponent(s)),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => safeEncode(s)),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/),
)

/** encodeURIComponent that survives lone surrogates (they become %ED%A0%80-style bytes). */
function safeEncode(s: string): string {
  try {
    return encodeURIComponent(s)
  } catch {
    return Buffer.from(s, 'utf8').toString('hex').replace(/(..)/g, '%$1')
  }
}

const pathArb = fc
  .tuple(fc.constantFrom(...TEMPLATES), hostileName, fc.constantFrom('', '', '', '/', '//', '/..', '/%2e%2e', '/./', '?'))
  .map(([tpl, name, tail]) => tpl.replace(/\{name\}|\{id\}/g, name) + tail)

const QUERY_KEYS = [
  'top_k',
  'calibrated',
  'return_logits',
  'method',
  'objective',
  'dry_run',
  'fit_temperature',
  'note',
  'async',
  'labels',
  '__proto__',
  'constructor',
  'prototype',
  'x',
  '',
]
const QUERY_VALUES = [
  '1',
  '0',
  '-1',
  '1e400',
  'NaN',
  'Infinity',
  '-0',
  'true',
  'false',
  'yes',
  '',
  'sweep',
  'alg',
  'cat,dog',
  '0,1,2,3',
  '%',
  '%00',
  '%ZZ',
  'a'.repeat(3000),
  '[]',
  '{}',
  '__proto__',
]
const queryArb = fc
  .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.oneof(fc.constantFrom(...QUERY_VALUES), fc.string({ maxLength: 10 }).map(safeEncode))), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

const CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/json;;;',
  'application/jsonx',
  'application/x-ndjson',
  'application/x-ndjson; charset=utf-8',
  'application/octet-stream',
  'text/plain',
  'text/html',
  'multipart/form-data; boundary=----x',
  'application/x-www-form-urlencoded',
  '*/*',
  '',
  ';',
  'application/\u00e9',
  'application/json\u0000',
]
const contentTypeArb = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }) })

/** Authorization headers that never carry the admin token. */
const nonAdminAuth = fc.constantFrom(
  undefined,
  `Bearer ${READER}`,
  `bearer ${READER}`,
  'Bearer wrong-token-0123456789',
  `Bearer ${ADMIN.slice(0, -1)}`,
  `Bearer ${ADMIN}x`,
  `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}`,
  'Bearer',
  'Bearer ',
  `Bearer ${READER} ${READER}`,
  'Bearer \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9',
  `Bearer ${'x'.repeat(10_000)}`,
  'Token abc',
  '',
)

// Bodies.

const hugeNumbers = [
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '0.0e0',
  '123456789012345678901234567890',
  '1' + '0'.repeat(400),
  '9007199254740993',
  '4.9e-324',
  '3.5e38',
  '-3.5e38',
]
const spelled = ['NaN', 'Infinity', '-Infinity', 'undefined', 'null', 'true', '0x10', '+1', '.5', '01', '1.', '1e', '--1', "'1'"]
const oddStrings = [
  '\ud800',
  '\udfff',
  '\ud83d',
  'a\u0000b',
  '\u0000',
  '\u202e',
  '\ufeff',
  '\uffff',
  '💩',
  'e\u0301',
  '\u2028\u2029',
  '<script>alert(1)</script>',
  "'; DROP TABLE calibrations; --",
  '${x}',
  '%s%n',
]

/** Any JSON value, with hostile keys and odd strings mixed in. */
const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(-0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2, -(2 ** 31), 3.5e38, 1e308),
    fc.string({ maxLength: 12 }),
    fc.constantFrom(...oddStrings),
    fc.array(tie('v'), { maxLength: 6 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('constructor', 'prototype', 'inputs', 'gamma', 'labels', 'version')), tie('v'), {
      maxKeys: 5,
    }),
  ),
})).v

const sampleArb = fc.oneof(
  fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 3, maxLength: 3 }),
  fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 6 }),
  fc.constant([
    [
      [
        [1, 2],
        [3, 4],
      ],
    ],
  ]),
  fc.constant([]),
  jsonish,
)

/** Objects shaped like each route's body, with fields wrong in type or value. */
const predictBody = fc.record(
  {
    inputs: fc.oneof(fc.array(sampleArb, { maxLength: 5 }), fc.constant([]), jsonish),
    top_k: fc.oneof(fc.integer({ min: -2, max: 6 }), jsonish),
    calibrated: fc.oneof(fc.boolean(), jsonish),
    return_logits: fc.oneof(fc.boolean(), jsonish),
    topk: jsonish,
  },
  { requiredKeys: [] },
)
const gammaArb = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), jsonish)
const putBody = fc.record(
  { gamma: gammaArb, temperature: fc.oneof(fc.double(), jsonish), expected_version: jsonish, note: fc.oneof(fc.string(), jsonish), gama: jsonish },
  { requiredKeys: [] },
)
const rollbackBody = fc.record({ version: fc.oneof(fc.integer({ min: -1, max: 5 }), jsonish), expected_version: jsonish, note: jsonish }, { requiredKeys: [] })
const fitBody = fc.record(
  {
    inputs: fc.oneof(fc.array(sampleArb, { maxLength: 6 }), jsonish),
    labels: fc.oneof(
      fc.array(fc.oneof(fc.constantFrom('cat', 'dog', 'bird', 'fish', 'a', 'x', 'nope', '__proto__', 'constructor'), fc.integer({ min: -1, max: 5 })), {
        maxLength: 6,
      }),
      jsonish,
    ),
    method: fc.oneof(fc.constantFrom('sweep', 'alg', 'bogus'), jsonish),
    objective: fc.oneof(fc.constantFrom('accuracy', 'harmonic_mean', 'balanced_accuracy', ''), jsonish),
    dry_run: fc.oneof(fc.boolean(), jsonish),
    fit_temperature: fc.oneof(fc.boolean(), jsonish),
    async: fc.oneof(fc.boolean(), jsonish),
    note: jsonish,
    expected_version: jsonish,
  },
  { requiredKeys: [] },
)
/** A valid body of a route as it is, or with one field replaced, removed or added. */
const VALID = {
  predict: [
    {
      inputs: [
        [1, 2, 3],
        [0.5, -1, 2],
      ],
      top_k: 2,
      calibrated: true,
      return_logits: true,
    },
    {
      inputs: [
        [
          [
            [1, 2],
            [3, 4],
          ],
        ],
      ],
      top_k: 1,
    },
  ],
  put: [{ gamma: 0.5, temperature: 2, note: 'x' }],
  rollback: [{ version: 1, note: 'back' }],
  fit: [
    {
      inputs: [
        [1, 2, 3],
        [3, 2, 1],
        [0, 0, 1],
        [1, 0, 0],
      ],
      labels: ['cat', 'bird', 3, 'dog'],
      method: 'sweep',
      objective: 'harmonic_mean',
      fit_temperature: true,
    },
    { inputs: [[1, 2, 3]], labels: ['cat'], method: 'alg', dry_run: true },
    {
      inputs: [
        [1, 2, 3],
        [3, 2, 1],
      ],
      labels: ['cat', 'fish'],
      async: true,
    },
  ],
} satisfies Record<string, Array<Record<string, unknown>>>
const nearValid = (bodies: Array<Record<string, unknown>>) =>
  fc
    .tuple(
      fc.constantFrom(...bodies),
      fc.constantFrom('keep', 'replace', 'delete', 'add'),
      fc.nat(),
      fc.oneof(jsonish, fc.constantFrom('__proto__', 'constructor', 'prototype')),
    )
    .map(([body, how, k, v]) => {
      const keys = Object.keys(body)
      const key = keys[k % keys.length]!
      const out: Record<string, unknown> = { ...body }
      if (how === 'replace') out[key] = v
      else if (how === 'delete') delete out[key]
      else Object.defineProperty(out, typeof v === 'string' ? v : `extra_${k % 5}`, { value: v, enumerable: true, configurable: true, writable: true })
      return out
    })
const allValid = Object.values(VALID).flat()
const objectBody = fc.oneof(predictBody, putBody, rollbackBody, fitBody, jsonish, nearValid(allValid), nearValid(allValid))

const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n)
const deepObject = (n: number, key = 'a') => `{"${key}":`.repeat(n) + '1' + '}'.repeat(n)
const DEPTHS = [17, 100, 1000, 5000, 10_000]
// Large payloads are built once, so the run spends its time on the server, not on generating.
const BIG = {
  manySamples: JSON.stringify({ inputs: Array.from({ length: 4097 }, () => [1, 2, 3]) }),
  longSample: JSON.stringify({ inputs: [Array.from({ length: 200_000 }, (_, i) => i % 7)] }),
  manyLabels: JSON.stringify({ inputs: [[1, 2, 3]], labels: Array.from({ length: 50_000 }, () => 'cat') }),
  longNote: JSON.stringify({ gamma: 1, note: 'n'.repeat(100_000) }),
  wideObject: JSON.stringify(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]))),
  longString: JSON.stringify({ inputs: ['x'.repeat(1_000_000)] }),
}

/** Hostile JSON text, written by hand where JSON.stringify can't say it. */
const rawJson = fc.oneof(
  fc.constantFrom(...Object.values(BIG)),
  fc.constantFrom(...DEPTHS).map((n) => deepArray(n)),
  fc.constantFrom(...DEPTHS).map((n) => `{"inputs":[${deepArray(n)}]}`),
  fc.constantFrom(...DEPTHS).map((n) => deepObject(n)),
  fc.constantFrom(...DEPTHS).map((n) => `{"gamma":${deepObject(n)}}`),
  fc.constantFrom(...DEPTHS).map((n) => `{"inputs":[[1,2,3]],"labels":[${deepArray(n)}]}`),
  fc.constantFrom(...DEPTHS).map((n) => deepObject(n, '__proto__')),
  fc.constantFrom(
    '{"__proto__":{"gamma":1}}',
    '{"gamma":1,"__proto__":{"isAdmin":true}}',
    '{"constructor":{"prototype":{"gamma":1}}}',
    '{"inputs":[[1,2,3]],"__proto__":{"top_k":3}}',
    '{"inputs":[[1,2,3]],"constructor":{"prototype":{"calibrated":false}}}',
    '{"version":1,"__proto__":null}',
    '{"inputs":{"__proto__":[]},"labels":[]}',
    '{"gamma":1,"gamma":2}',
    '{"inputs":[[1,2,3]],"inputs":[[1,2,3],[4,5,6]]}',
    '{"inputs":[[1,2,3]],"labels":["cat"],"method":"sweep","method":"alg"}',
    '{"\\u005f_proto__":{"x":1}}',
  ),
  fc
    .tuple(fc.constantFrom('gamma', 'temperature', 'top_k', 'version', 'expected_version'), fc.constantFrom(...hugeNumbers, ...spelled))
    .map(([k, v]) => `{"${k}":${v},"inputs":[[1,2,3]]}`),
  fc.constantFrom(...hugeNumbers, ...spelled).map((v) => `{"inputs":[[${v},0,0]]}`),
  fc.constantFrom(...hugeNumbers, ...spelled).map((v) => `{"inputs":[[1,2,3]],"labels":[${v}]}`),
  fc
    .constantFrom('"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\uZZZZ"', '"\\', '"\u0000"', '"a\nb"')
    .map((s) => `{"note":${s},"gamma":1,"labels":[${s}],"inputs":[[1,2,3]]}`),
  fc.constantFrom(
    '',
    ' ',
    '\n',
    'null',
    '[]',
    '{}',
    '""',
    '0',
    'true',
    '\ufeff{}',
    '{',
    '}',
    '[',
    '{"a"',
    '{"a":}',
    '{,}',
    '[1,]',
    '{"a":1,}',
    '/* */{}',
    '{"a":1}garbage',
    '{"a":1}{"a":2}',
  ),
  // Valid bodies cut short at a random place.
  fc
    .tuple(
      fc.constantFrom(
        '{"inputs":[[1,2,3],[4,5,6]],"top_k":2}',
        '{"gamma":0.5,"temperature":2,"note":"x"}',
        '{"version":1,"note":"n"}',
        '{"inputs":[[1,2,3]],"labels":["cat"]}',
      ),
      fc.nat(),
    )
    .map(([s, k]) => s.slice(0, k % s.length)),
  fc.string({ unit: 'binary', maxLength: 50 }),
  jsonish.map((v) => JSON.stringify(v) ?? 'null'),
)

const ndjson = fc.oneof(
  fc
    .array(
      fc.oneof(
        fc.constant('{"input":[1,2,3],"label":"cat"}'),
        fc.constant('{"input":[1,2,3],"label":"bird"}'),
        fc.constant('{"input":[1,2,3]}'),
        fc.constant('{"input":[1,2,3],"label":'),
        fc.constant('{"input":[1,2,3],"label":"__proto__"}'),
        fc.constant('{"input":"x","label":0}'),
        fc.constant('{"input":[1e400,0,0],"label":0}'),
        fc.constant(`{"input":${deepArray(5000)},"label":0}`),
        fc.constant('[]'),
        fc.constant('null'),
        fc.constant(''),
        fc.constant('\r'),
        fc.constant('{"__proto__":{"input":[1,2,3],"label":"cat"}}'),
        fc.constant('{"constructor":{"prototype":{"input":[1,2,3]}},"label":1}'),
        fc.string({ unit: 'binary', maxLength: 30 }),
        jsonish.map((v) => JSON.stringify(v) ?? ''),
      ),
      { maxLength: 8 },
    )
    .chain((lines) => fc.constantFrom('\n', '\r\n', '\r', '\u2028').map((sep) => lines.join(sep))),
  fc.constantFrom('{"input":[1,2,3],"label":"cat"}\n'.repeat(3) + '{"input":[1,2', '\n\n\n', '\u0000\n\u0000'),
)

const binary = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.constantFrom(0, 1, 3, 5, 11, 12, 13, 23, 24, 4097 * 12).map((n) => Buffer.alloc(n, 0x3f)),
  fc.constantFrom(NaN, Infinity, -Infinity, 3.5e38).map((v) => Buffer.from(new Float32Array([1, v, 3]).buffer)),
)

type Payload = string | Buffer | undefined
const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 5, arbitrary: objectBody.map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 5, arbitrary: rawJson },
  { weight: 2, arbitrary: ndjson },
  { weight: 2, arbitrary: binary },
)

interface Req {
  method: Method
  url: string
  headers: Record<string, string>
  payload: Payload
  /** Sent with the admin token (then a write must be refused for a stale expected_version). */
  admin: boolean
}

const withHeaders = (auth: string | undefined, contentType: string | undefined, extra: Record<string, string>) => {
  const h: Record<string, string> = { ...extra }
  if (auth !== undefined) h.authorization = auth
  if (contentType !== undefined) h['content-type'] = contentType
  return h
}

const extraHeaders = fc.record(
  {
    accept: fc.constantFrom('*/*', 'application/json', 'text/html', 'image/svg+xml', '\u00e9', ''),
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'bogus'),
    'x-forwarded-for': fc.constantFrom('1.2.3.4', '::1', '127.0.0.1, 10.0.0.1', 'garbage'),
    'calserve-labels': fc.constantFrom('cat', 'cat,dog', '0,1', '', '__proto__', ','.repeat(1000)),
    host: fc.constantFrom('localhost', 'evil.example', ''),
  },
  { requiredKeys: [] },
)

/** Anything, anywhere, without the admin token: no write can pass authentication. */
const anonymousReq: fc.Arbitrary<Req> = fc
  .record({
    method: fc.constantFrom(...METHODS),
    path: pathArb,
    query: queryArb,
    auth: nonAdminAuth,
    contentType: contentTypeArb,
    extra: extraHeaders,
    payload: payloadArb,
  })
  .map(({ method, path, query, auth, contentType, extra, payload }) => ({
    method,
    url: query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path,
    headers: withHeaders(auth, contentType, extra),
    payload: method === 'GET' || method === 'HEAD' ? (payload === undefined ? undefined : payload) : payload,
    admin: false,
  }))

/**
 * With the admin token, on the routes that take a body: JSON objects shaped like each route's
 * body but wrong somewhere, hostile JSON text and streams. Every object gets a stale
 * expected_version (query strings too), so a body that happens to be valid gets 409, not a write.
 */
const ADMIN_ROUTES = [
  { method: 'POST' as Method, path: '/v1/models/{name}/predict', shaped: fc.oneof(predictBody, nearValid(VALID.predict)) },
  { method: 'PUT' as Method, path: '/v1/models/{name}/calibration', shaped: fc.oneof(putBody, nearValid(VALID.put)) },
  { method: 'POST' as Method, path: '/v1/models/{name}/calibration/rollback', shaped: fc.oneof(rollbackBody, nearValid(VALID.rollback)) },
  { method: 'POST' as Method, path: '/v1/models/{name}/calibration/fit', shaped: fc.oneof(fitBody, nearValid(VALID.fit)) },
  { method: 'GET' as Method, path: '/v1/jobs/{name}', shaped: jsonish },
]
const adminReq: fc.Arbitrary<Req> = fc
  .constantFrom(...ADMIN_ROUTES)
  .chain((route) =>
    fc.record({
      route: fc.constant(route),
      name: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('tiny', 'image', 'two_outputs') }, { weight: 1, arbitrary: hostileName }),
      query: queryArb,
      otherType: contentTypeArb,
      matchingType: fc.nat(3).map((n) => n > 0),
      withQuery: fc.nat(3).map((n) => n === 0),
      body: fc.oneof(
        { weight: 5, arbitrary: route.shaped.map((v) => ({ kind: 'object' as const, v, type: 'application/json' })) },
        { weight: 1, arbitrary: objectBody.map((v) => ({ kind: 'object' as const, v, type: 'application/json' })) },
        { weight: 3, arbitrary: rawJson.map((v) => ({ kind: 'raw' as const, v, type: 'application/json' })) },
        { weight: 1, arbitrary: ndjson.map((v) => ({ kind: 'raw' as const, v, type: 'application/x-ndjson' })) },
        { weight: 1, arbitrary: binary.map((v) => ({ kind: 'raw' as const, v, type: 'application/octet-stream' })) },
      ),
    }),
  )
  .map(({ route, name, query, otherType, matchingType, withQuery, body }) => {
    // Mostly the content type that matches the body, so most requests reach the handler.
    const contentType = matchingType ? body.type : otherType
    // Predict and job reads write nothing: their bodies go as generated.
    const writes = route.path.includes('/calibration')
    let payload: Payload
    if (body.kind === 'object') {
      const v = body.v
      payload =
        writes && typeof v === 'object' && v !== null && !Array.isArray(v) ? JSON.stringify({ ...v, expected_version: STALE }) : (JSON.stringify(v) ?? 'null')
    } else payload = writes ? staleIfObject(body.v) : body.v
    // Fit options travel in the query string for ndjson and binary sets: a stale expected_version
    // there too. Elsewhere a query string is mostly left out, so the body gets checked.
    const q = query.split('&').filter((p) => p && !p.startsWith('expected_version') && (withQuery || route.path.endsWith('/fit')))
    if (route.path.endsWith('/fit')) q.push(`expected_version=${STALE}`)
    return {
      method: route.method,
      url: `${route.path.replace('{name}', name)}${q.length ? `?${q.join('&')}` : ''}`,
      headers: withHeaders(`Bearer ${ADMIN}`, contentType, {}),
      payload,
      admin: true,
    }
  })

/**
 * Raw JSON text that happens to parse as an object gets `"expected_version": STALE` appended as its
 * last key (the last of duplicate keys wins), so even a valid body can't write.
 */
function staleIfObject(p: Payload): Payload {
  if (typeof p !== 'string') return p
  let v: unknown
  try {
    v = JSON.parse(p)
  } catch {
    return p
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return p
  return p.replace(/\}\s*$/, `,"expected_version":${STALE}}`)
}

// ---------------------------------------------------------------------------------------------
// Checks.

/** A request that gets no answer in this long is a hang: a failure in itself. */
const HANG_MS = 15_000
const ALLOWED_503 = new Set(['CALSERVE_OVERLOADED', 'CALSERVE_MODEL_NOT_READY', 'CALSERVE_STORE_UNAVAILABLE'])

interface Tally {
  cases: number
  byStatus: Map<number, number>
}

function describe(r: Req): string {
  const p = r.payload === undefined ? '' : Buffer.isBuffer(r.payload) ? `<${r.payload.length} bytes>` : r.payload.slice(0, 200)
  const url = r.url.length > 300 ? `${r.url.slice(0, 150)}…${r.url.slice(-150)}` : r.url
  return `${r.method} ${url} ${JSON.stringify(r.headers).slice(0, 300)} ${p}`
}

async function send(app: FastifyInstance, r: Req, tally: Tally): Promise<void> {
  if (process.env.CALSERVE_FUZZ_TRACE) process.stderr.write(`>> ${describe(r)}\n`)
  let res
  try {
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`no answer within ${HANG_MS} ms: ${describe(r)}`)), HANG_MS)
    })
    try {
      res = await Promise.race([
        app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.payload === undefined ? {} : { payload: r.payload }) }),
        hung,
      ])
    } finally {
      clearTimeout(timer)
    }
  } catch (err) {
    // light-my-request refuses some requests before they reach the server (a header value it
    // can't send, say): nothing reached calserve, nothing to check.
    if ((err as Error).message.startsWith('no answer within')) throw err
    if (
      err instanceof TypeError ||
      (err as { code?: string }).code === 'ERR_INVALID_CHAR' ||
      (err as { code?: string }).code === 'ERR_HTTP_INVALID_HEADER_VALUE'
    )
      return
    throw err
  }
  tally.cases++
  if (process.env.CALSERVE_FUZZ_TRACE) process.stderr.write(`<< ${res.statusCode} ${res.body.slice(0, 160)}\n`)
  tally.byStatus.set(res.statusCode, (tally.byStatus.get(res.statusCode) ?? 0) + 1)
  const where = () => `${res.statusCode} ${res.body.slice(0, 300)}\n  for ${describe(r)}`
  if (res.statusCode >= 500) {
    // A HEAD answer has no body to say why: the GET beside it is checked instead.
    const body = r.method === 'HEAD' ? await getBody(app, r) : safeJson(res.body)
    if (!(res.statusCode === 503 && allowed503(body))) throw new Error(`5xx: ${where()}`)
  }
  if (res.statusCode >= 400 && r.method !== 'HEAD') {
    const body = safeJson(res.body)
    const keys = body && typeof body === 'object' ? Object.keys(body) : []
    const e = body?.error
    // The Open Inference Protocol (/v2) answers its own error shape, {"error": "message"}.
    const v2 = /^\/v2(\/|\?|$)/.test(r.url) && keys.join() === 'error' && typeof e === 'string' && e.length > 0
    if (v2) return
    if (
      keys.join() !== 'error' ||
      typeof e?.code !== 'string' ||
      !e.code.startsWith('CALSERVE_') ||
      typeof e.message !== 'string' ||
      !String(res.headers['content-type'] ?? '').startsWith('application/json')
    )
      throw new Error(`not the error shape: ${where()}`)
  }
  if (res.statusCode < 300 && r.method !== 'GET' && r.method !== 'HEAD') {
    // Only reads, predicts and dry runs may succeed.
    const path = r.url.split('?')[0]!.replace(/\/+$/, '')
    const ok =
      /\/predict$/.test(path) ||
      /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/.test(path) ||
      (r.admin && /\/calibration\/fit$/.test(path) && safeJson(res.body)?.calibration === undefined)
    if (!ok) throw new Error(`a write succeeded: ${where()}`)
  }
}

async function getBody(app: FastifyInstance, r: Req): Promise<any> {
  const res = await app.inject({ method: 'GET', url: r.url, headers: r.headers, ...(r.payload === undefined ? {} : { payload: r.payload }) })
  return safeJson(res.body)
}

/** A 503 says the server is overloaded or the model not ready, never that something broke. */
function allowed503(body: any): boolean {
  const e = body?.error
  if (typeof e === 'string') return /FAILED|LOADING|not ready|overloaded|unavailable|retry/i.test(e) // the /v2 shape
  return ALLOWED_503.has(e?.code)
}

function safeJson(s: string): any {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}

async function snapshot(app: FastifyInstance) {
  const models = app.models.list().filter((m) => m.version !== null)
  const out: Record<string, unknown> = { all: await app.store.activeAll() }
  for (const m of models) {
    for (let v = 1; v <= m.version!; v++) out[`${m.name}@${v}`] = await app.store.history(m.name, v)
    if (m.state === 'READY') out[`${m.name}:active`] = app.calibrations.get(m.name, m.version!)
  }
  return out
}

/**
 * Runs one property and reports a failure through tap with a short, printable message (a raw
 * counterexample can be megabytes of binary, which tap cannot report).
 */
async function property<T>(t: Test, name: string, arb: fc.Arbitrary<T>, check: (v: T) => Promise<void>, numRuns: number, seed: number): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, check), { numRuns, seed, endOnFailure: true })
  if (details.failed) {
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    t.fail(`${name}: failed after ${details.numRuns} runs (seed ${seed}, path ${details.counterexamplePath}): ${printable(why)}`)
  } else t.pass(`${name}: ${details.numRuns} runs`)
}

function printable(s: string, max = 3000): string {
  const clean = s.replace(/[^\x20-\x7e\n]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return clean.length > max ? `${clean.slice(0, max)}… (${clean.length} chars)` : clean
}

// ---------------------------------------------------------------------------------------------

t.test('inject fuzz: every route, 10,000+ random and hostile requests', async (t) => {
  const repo = copyFixtures(t, ['tiny', 'image', 'two_outputs'])
  const broken = join(repo, 'broken')
  cpSync(join(repo, 'tiny'), broken, { recursive: true })
  writeFileSync(join(broken, '2', 'model.onnx'), 'not an onnx file')
  const app = await build(t, {
    CALSERVE_MODEL_REPOSITORY: repo,
    CALSERVE_ADMIN_TOKENS: `admin:${ADMIN}`,
    CALSERVE_API_TOKENS: `reader:${READER}`,
    CALSERVE_FIT_SYNC_MAX_SAMPLES: '4',
  })
  // A history to protect: two versions on tiny, one on image.
  const auth = { authorization: `Bearer ${ADMIN}` }
  for (const [url, payload] of [
    ['/v1/models/tiny/calibration', { gamma: 0.75, temperature: 2, note: 'before fuzz' }],
    ['/v1/models/tiny/calibration', { gamma: 1.625, expected_version: 1 }],
    ['/v1/models/image/calibration', { gamma: -0.5 }],
  ] as const) {
    const res = await app.inject({ method: 'PUT', url, payload, headers: auth })
    t.equal(res.statusCode, 200, res.body)
  }
  const before = await snapshot(app)

  const anonymous: Tally = { cases: 0, byStatus: new Map() }
  const admin: Tally = { cases: 0, byStatus: new Map() }
  const started = Date.now()
  const runs = { anonymous: 7000, admin: 5000 }
  await property(t, 'anonymous: any route, method, header and body, never the admin token', anonymousReq, (r) => send(app, r, anonymous), runs.anonymous, SEED)
  await property(
    t,
    'admin: bodies wrong somewhere on the body routes, every write with a stale expected_version',
    adminReq,
    (r) => send(app, r, admin),
    runs.admin,
    SEED + 1,
  )
  // Fit jobs still queued are dry runs (any other fit met a stale expected_version first); they
  // can't write, and closing the app waits for them.
  const tally: Tally = { cases: anonymous.cases + admin.cases, byStatus: new Map() }
  for (const x of [anonymous, admin]) for (const [s, n] of x.byStatus) tally.byStatus.set(s, (tally.byStatus.get(s) ?? 0) + n)
  const list = (x: Tally) =>
    [...x.byStatus.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(' ')
  t.comment(`fuzz: ${tally.cases} cases ran through app.inject in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED})`)
  t.comment(`  anonymous ${anonymous.cases}: ${list(anonymous)}`)
  t.comment(`  admin ${admin.cases}: ${list(admin)}`)
  t.ok(tally.cases >= 10_000, `at least 10,000 cases reached the server (${tally.cases})`)
  t.ok(
    (tally.byStatus.get(200) ?? 0) > 0 && (tally.byStatus.get(400) ?? 0) > 0 && (tally.byStatus.get(401) ?? 0) > 0 && (tally.byStatus.get(403) ?? 0) > 0,
    'the run reached 200, 400, 401 and 403',
  )

  t.same(await snapshot(app), before, 'the store and the active calibrations are unchanged')

  // And tiny still predicts, with its calibration applied.
  const info = fixture('tiny')
  const x = [1, 0.5, 0.25]
  const res = await app.inject({
    method: 'POST',
    url: '/v1/models/tiny/predict',
    payload: { inputs: [x], top_k: 4 },
    headers: { authorization: `Bearer ${READER}` },
  })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.same(body.calibration, { applied: true, version: 2, gamma: 1.625, temperature: 1 })
  checkPrediction(t, body.predictions[0], expectedPrediction(info, logitsOf(info, 2, x), 1.625, 1, 4), 'predict after the fuzz')
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200)
})

// ---------------------------------------------------------------------------------------------
// Real sockets: what app.inject can't send — lying Content-Length, broken chunked encoding,
// bodies cut short and connections dropped mid-request — to a spawned process, which must stay up.

interface RawCase {
  head: string
  body: Buffer
  /** How the client ends: half-close after writing, hold then drop, or drop mid-write. */
  end: 'half-close' | 'hold-drop' | 'drop-mid'
  /** Bytes written before a drop-mid. */
  cut: number
}

const RAW_TARGETS = [
  { method: 'POST', path: '/v1/models/tiny/predict', type: 'application/json', body: '{"inputs":[[1,2,3],[4,5,6]],"top_k":2}' },
  { method: 'POST', path: '/v1/models/tiny/predict', type: 'application/octet-stream', body: Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) },
  { method: 'PUT', path: '/v1/models/tiny/calibration', type: 'application/json', body: `{"expected_version":${STALE},"gamma":1.5,"note":"raw"}` },
  { method: 'POST', path: '/v1/models/tiny/calibration/rollback', type: 'application/json', body: `{"expected_version":${STALE},"version":1}` },
  {
    method: 'POST',
    path: `/v1/models/tiny/calibration/fit?expected_version=${STALE}`,
    type: 'application/x-ndjson',
    body: '{"input":[1,2,3],"label":"cat"}\n{"input":[3,2,1],"label":"bird"}\n',
  },
  {
    method: 'POST',
    path: '/v1/models/tiny/calibration/fit',
    type: 'application/json',
    body: `{"expected_version":${STALE},"inputs":[[1,2,3],[3,2,1]],"labels":["cat","bird"]}`,
  },
  { method: 'GET', path: '/v1/models/tiny/calibration/history', type: 'application/json', body: '' },
  {
    method: 'POST',
    path: '/v2/models/tiny/infer',
    type: 'application/json',
    body: '{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}',
  },
]

const rawCase: fc.Arbitrary<RawCase> = fc
  .record({
    target: fc.constantFrom(...RAW_TARGETS),
    framing: fc.constantFrom('exact', 'short', 'long', 'huge', 'negative', 'garbage', 'double', 'chunked-good', 'chunked-bad', 'cl-and-chunked', 'none'),
    delta: fc.integer({ min: 1, max: 40 }),
    truncate: fc.nat(),
    truncated: fc.boolean(),
    auth: fc.boolean(),
    end: fc.constantFrom('half-close' as const, 'hold-drop' as const, 'drop-mid' as const),
    cut: fc.nat(),
    lf: fc.constantFrom('\r\n', '\r\n', '\n'),
  })
  .map(({ target, framing, delta, truncate, truncated, auth, end, cut, lf }) => {
    let body = Buffer.isBuffer(target.body) ? target.body : Buffer.from(target.body)
    if (truncated && body.length > 0) body = body.subarray(0, truncate % body.length)
    const headers = [`${target.method} ${target.path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Type: ${target.type}`]
    if (auth) headers.push(`Authorization: Bearer ${ADMIN}`)
    let payload = body
    switch (framing) {
      case 'exact':
        headers.push(`Content-Length: ${body.length}`)
        break
      case 'short':
        headers.push(`Content-Length: ${Math.max(0, body.length - delta)}`)
        break
      case 'long':
        headers.push(`Content-Length: ${body.length + delta}`)
        break
      case 'huge':
        headers.push('Content-Length: 99999999999999999999')
        break
      case 'negative':
        headers.push('Content-Length: -5')
        break
      case 'garbage':
        headers.push('Content-Length: 12abc')
        break
      case 'double':
        headers.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + delta}`)
        break
      case 'chunked-good':
      case 'chunked-bad':
      case 'cl-and-chunked': {
        headers.push('Transfer-Encoding: chunked')
        if (framing === 'cl-and-chunked') headers.push(`Content-Length: ${body.length}`)
        const size = framing === 'chunked-bad' ? (body.length + delta).toString(16) : body.length.toString(16)
        payload = Buffer.concat([Buffer.from(`${size}\r\n`), body, Buffer.from(framing === 'chunked-bad' ? '\r\nzz\r\n' : '\r\n0\r\n\r\n')])
        break
      }
      case 'none':
        break
    }
    headers.push('Connection: keep-alive')
    const head = headers.join(lf) + lf + lf
    return { head, body: payload, end, cut: payload.length > 0 ? cut % payload.length : 0 }
  })

/** Sends one raw case; answers the status codes of every response that came back. */
function sendRaw(port: number, c: RawCase): Promise<number[]> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      resolve([...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])))
    }
    // No answer expected for a body the server still waits for: give up after a while.
    const timer = setTimeout(finish, c.end === 'hold-drop' ? 400 : 1500)
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('error', finish)
    socket.on('close', finish)
    socket.on('connect', () => {
      const all = Buffer.concat([Buffer.from(c.head, 'latin1'), c.body])
      if (c.end === 'drop-mid') {
        socket.write(all.subarray(0, Buffer.byteLength(c.head, 'latin1') + c.cut), () => setTimeout(finish, 30))
        return
      }
      socket.write(all)
      if (c.end === 'half-close') socket.end()
    })
  })
}

t.test('real sockets: lying Content-Length, broken chunking, cut bodies; the process stays up', async (t) => {
  const dir = tempDir(t, 'calserve-rawfuzz-')
  const server: Server = await start(t, {
    CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`,
    CALSERVE_ADMIN_TOKENS: `admin:${ADMIN}`,
    CALSERVE_LOG_LEVEL: 'warn',
  })
  await waitReady(server)
  const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }
  const put = await fetch(`${server.url}/v1/models/tiny/calibration`, { method: 'PUT', headers: auth, body: JSON.stringify({ gamma: 0.875 }) })
  t.equal(put.status, 200)
  const history = async () => (await (await fetch(`${server.url}/v1/models/tiny/calibration/history`)).json()) as unknown
  const before = await history()

  const cases = fc.sample(rawCase, { numRuns: 300, seed: SEED + 2 })
  const statuses = new Map<number, number>()
  const fivexx: string[] = []
  const started = Date.now()
  // Eight connections at a time.
  for (let i = 0; i < cases.length; i += 8) {
    const batch = cases.slice(i, i + 8)
    const results = await Promise.all(batch.map((c) => sendRaw(server.port, c)))
    results.forEach((codes, j) => {
      for (const code of codes) {
        statuses.set(code, (statuses.get(code) ?? 0) + 1)
        if (code >= 500 && code !== 503) fivexx.push(`${code} for ${printable(batch[j]!.head.split(/\r?\n/)[0] ?? '')} (${batch[j]!.end})`)
      }
    })
    t.equal(server.proc.exitCode, null, 'still running') || t.bailout(`calserve exited:\n${server.output().slice(-3000)}`)
  }
  const list = [...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(' ')
  t.comment(`raw-socket fuzz: ${cases.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${list}`)
  t.same(fivexx, [], 'no 5xx other than a 503')

  const live = await fetch(`${server.url}/health/live`)
  t.equal(live.status, 200, 'alive')
  const res = await fetch(`${server.url}/v1/models/tiny/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"inputs":[[1,0.5,0.25]],"top_k":4}',
  })
  t.equal(res.status, 200, 'still predicts')
  const info = fixture('tiny')
  checkPrediction(
    t,
    ((await res.json()) as { predictions: unknown[] }).predictions[0],
    expectedPrediction(info, logitsOf(info, 2, [1, 0.5, 0.25]), 0.875, 1, 4),
    'predict after the raw fuzz',
  )
  t.same(await history(), before, 'the store is unchanged')
})
