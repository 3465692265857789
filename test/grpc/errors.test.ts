// Every failure as a gRPC status with the message REST v2 gives for the same request:
// INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, RESOURCE_EXHAUSTED (queue full, message too large),
// DEADLINE_EXCEEDED; calserve's error code rides in the trailers.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import t from 'tap'
import { copyFixtures, until } from '../helper.js'
import { call, failure, serve, type Served } from './helper.js'

const X = [1, 0.5, 0.25]
const typed = (contents: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  model_name: 'tiny',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents }],
  ...extra,
})

async function restError(s: Served, url: string, body: unknown) {
  const res = await s.app.inject({ method: 'POST', url, payload: body as Record<string, unknown> })
  return { status: res.statusCode, message: (res.json() as { error: string }).error }
}

/** A copy of tiny whose batcher holds a lone request `delayMs` and queues at most `queue` samples. */
function slowRepository(t: Parameters<typeof copyFixtures>[0], delayMs: number, queue: number): string {
  const repo = copyFixtures(t, ['tiny'])
  const file = join(repo, 'tiny/model.json')
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(file, JSON.stringify({ ...manifest, batching: { max_batch_size: 16, max_queue_delay_ms: delayMs, max_queue_size: queue } }))
  return repo
}

t.test('BAD CALL - INVALID_ARGUMENT with REST’s message for the same request', async (t) => {
  const s = await serve(t, { CALSERVE_MAX_PREDICT_SAMPLES: '2' })
  const cases: Array<[string, unknown, unknown, RegExp]> = [
    [
      'unknown input',
      { model_name: 'tiny', inputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: X } }] },
      { inputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: X }] },
      /unknown input 'y'; the model's input is 'x'/,
    ],
    [
      'wrong shape',
      { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [...X, 1] } }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [...X, 1] }] },
      /has shape \[1, 4\]; the model takes \[N, 3\]/,
    ],
    [
      'too many samples',
      { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 3], contents: { fp32_contents: [...X, ...X, ...X] } }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 3], data: [...X, ...X, ...X] }] },
      /holds 3 samples; at most 2 in one request/,
    ],
    [
      'too few values',
      typed({ fp32_contents: [1, 2] }),
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2] }] },
      /data holds 2 values; shape \[1, 3\] has 3/,
    ],
    [
      'out-of-range INT8',
      { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'INT8', shape: [1, 3], contents: { int_contents: [1, 300, 2] } }] },
      { inputs: [{ name: 'x', datatype: 'INT8', shape: [1, 3], data: [1, 300, 2] }] },
      /contains 300, not a INT8 value/,
    ],
    [
      'BYTES input',
      { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'BYTES', shape: [1, 3], contents: { bytes_contents: [Buffer.from('a')] } }] },
      { inputs: [{ name: 'x', datatype: 'BYTES', shape: [1, 3], data: ['a', 'b', 'c'] }] },
      /datatype BYTES, which calserve does not convert/,
    ],
    [
      'unknown output',
      typed({ fp32_contents: X }, { outputs: [{ name: 'probabilities' }] }),
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }], outputs: [{ name: 'probabilities' }] },
      /unknown output 'probabilities'/,
    ],
    [
      'classification on an extra output',
      typed({ fp32_contents: X }, { outputs: [{ name: 'label', parameters: { classification: { int64_param: 2 } } }] }),
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }], outputs: [{ name: 'label', parameters: { classification: 2 } }] },
      /classification applies to the logits output 'logits'/,
    ],
    [
      'calibrated not a bool',
      typed({ fp32_contents: X }, { parameters: { calibrated: { string_param: 'no' } } }),
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }], parameters: { calibrated: 'no' } },
      /parameters.calibrated must be true or false, got "no"/,
    ],
  ]
  for (const [what, grpcRequest, restRequest, pattern] of cases) {
    const err = await failure(call(s.client, 'ModelInfer', grpcRequest))
    const rest = await restError(s, '/v2/models/tiny/infer', restRequest)
    t.equal(err.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`)
    t.equal(rest.status, 400)
    t.match(err.details, pattern, what)
    t.equal(err.details, rest.message, `${what}: REST's message`)
    t.same(err.metadata.get('calserve-code'), ['CALSERVE_BAD_INPUT'])
  }
  // gRPC's own ways to be wrong.
  const grpcOnly: Array<[string, unknown, RegExp]> = [
    ['contents beside raw', { ...typed({ fp32_contents: X }), raw_input_contents: [Buffer.alloc(12)] }, /has contents \(fp32_contents\) although the request uses raw_input_contents/],
    ['values in the wrong field', typed({ int_contents: [1, 2, 3] }), /datatype FP32, whose values go in contents.fp32_contents; it has int_contents/],
    ['raw of the wrong size', { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3] }], raw_input_contents: [Buffer.alloc(8)] }, /binary_data_size 8; shape \[1, 3\] of FP32 takes 12 bytes/],
    ['raw for two inputs, one given', { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3] }], raw_input_contents: [Buffer.alloc(12), Buffer.alloc(12)] }, /raw_input_contents holds 2 tensors; the request has 1 inputs/],
    ['no input', { model_name: 'tiny', inputs: [] }, /the model takes one input, 'x'; the request has 0/],
  ]
  for (const [what, request, pattern] of grpcOnly) {
    const err = await failure(call(s.client, 'ModelInfer', request))
    t.equal(err.code, status.INVALID_ARGUMENT, what)
    t.match(err.details, pattern, what)
  }
})

t.test('BAD CALL - NOT_FOUND and UNAVAILABLE as REST’s 404 and 503', async (t) => {
  const s = await serve(t)
  for (const [what, request, url] of [
    ['unknown model', { ...typed({ fp32_contents: X }), model_name: 'nope' }, '/v2/models/nope/infer'],
    ['unknown version', { ...typed({ fp32_contents: X }), model_version: '7' }, '/v2/models/tiny/versions/7/infer'],
  ] as const) {
    const err = await failure(call(s.client, 'ModelInfer', request))
    const rest = await restError(s, url, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }] })
    t.equal(err.code, status.NOT_FOUND, what)
    t.equal(rest.status, 404)
    t.equal(err.details, rest.message, `${what}: ${err.details}`)
  }
  t.equal((await failure(call(s.client, 'ModelMetadata', { name: 'nope' }))).code, status.NOT_FOUND)
  t.equal((await failure(call(s.client, 'ModelReady', { name: 'nope' }))).code, status.NOT_FOUND)

  await call(s.client, 'RepositoryModelUnload', { model_name: 'tiny' })
  const err = await failure(call(s.client, 'ModelInfer', typed({ fp32_contents: X })))
  const rest = await restError(s, '/v2/models/tiny/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: X }] })
  t.equal(err.code, status.UNAVAILABLE, 'an unloaded model is UNAVAILABLE')
  t.equal(rest.status, 503)
  t.equal(err.details, rest.message, err.details)
  t.same(err.metadata.get('calserve-code'), ['CALSERVE_MODEL_NOT_READY'])
  t.same(await call(s.client, 'ModelReady', { name: 'tiny' }), { ready: false }, 'ModelReady answers false, not an error')
})

t.test('BAD CALL - RESOURCE_EXHAUSTED: a full queue, a message past CALSERVE_GRPC_MAX_MESSAGE_BYTES', async (t) => {
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: slowRepository(t, 300, 2), CALSERVE_GRPC_MAX_MESSAGE_BYTES: '4096' })
  const held = call(s.client, 'ModelInfer', { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [...X, ...X] } }] })
  await new Promise((r) => setTimeout(r, 50))
  const full = await failure(call(s.client, 'ModelInfer', typed({ fp32_contents: X })))
  t.equal(full.code, status.RESOURCE_EXHAUSTED)
  t.match(full.details, /the queue of this model is full \(2 samples waiting\)/)
  t.same(full.metadata.get('retry-after'), ['1'])
  t.ok(await held, 'the queued call still answers')

  const big = await failure(
    call(s.client, 'ModelInfer', { model_name: 'tiny', inputs: [{ name: 'x', datatype: 'FP32', shape: [400, 3] }], raw_input_contents: [Buffer.alloc(4800)] }),
  )
  t.equal(big.code, status.RESOURCE_EXHAUSTED, big.details)
  t.match(big.details, /larger than max \(4\d+ vs\. 4096\)|message larger/i)
})

t.test('BAD CALL - DEADLINE_EXCEEDED: the client’s deadline is honoured and nothing answers after it', async (t) => {
  const s = await serve(t, { CALSERVE_MODEL_REPOSITORY: slowRepository(t, 400, 2048) })
  const err = await failure(call(s.client, 'ModelInfer', typed({ fp32_contents: X }), { deadlineMs: 100 }))
  t.equal(err.code, status.DEADLINE_EXCEEDED)
  // The server's side of the same call: counted as DEADLINE_EXCEEDED once the run ended, not OK.
  const counted = () =>
    s.app.metrics.requests.get().then((m) =>
      m.values.find((v) => v.labels['protocol'] === 'grpc' && v.labels['route'] === '/inference.GRPCInferenceService/ModelInfer' && v.labels['status'] === 'DEADLINE_EXCEEDED'),
    )
  t.ok(await until(async () => (await counted()) !== undefined, 3000), 'the server recorded the deadline')
  const ok = (await s.app.metrics.requests.get()).values.find((v) => v.labels['protocol'] === 'grpc' && v.labels['status'] === 'OK')
  t.equal(ok, undefined, 'no OK answer after the deadline')
  // With time to spare, the same call succeeds.
  t.ok(await call(s.client, 'ModelInfer', typed({ fp32_contents: X }), { deadlineMs: 5000 }))
})
