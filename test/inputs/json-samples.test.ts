// The one-pass JSON scan against the slow path it stands in for (JSON.parse, then the decoder of
// src/inputs/tensor.ts): on every body it accepts, the same float32 bits and the same options; on
// every body outside its shape, null, so that the slow path answers with its own message.
import t, { type Test } from 'tap'
import { scanInferRequest, scanJsonSamples, type MemberKind } from '../../src/inputs/json-samples.js'
import { decodeJsonSamples } from '../../src/inputs/tensor.js'
import { mulberry32 } from '../support/random.js'

const OPTIONS: Record<string, MemberKind> = { top_k: 'positive-integer', calibrated: 'boolean', return_logits: 'boolean', return_sets: 'boolean' }
const scan = (body: string, sampleSize: number, maxNumbers = 1 << 20) => scanJsonSamples(Buffer.from(body, 'latin1'), 'inputs', sampleSize, maxNumbers, OPTIONS)
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

/** The slow path's decoding of a body the scan accepted. */
function slow(body: string, sampleSize: number) {
  const parsed = JSON.parse(body) as { inputs: unknown[] } & Record<string, unknown>
  const { inputs, ...members } = parsed
  return { data: decodeJsonSamples(inputs, sampleSize), n: inputs.length, members }
}

function same(t: Test, body: string, sampleSize: number, what: string) {
  const fast = scan(body, sampleSize)
  if (!fast) return t.fail(`${what}: the scan refused ${body.slice(0, 200)}`)
  const expected = slow(body, sampleSize)
  t.equal(fast.n, expected.n, `${what}: samples`)
  t.strictSame(bits(fast.data), bits(expected.data), `${what}: float32 bits`)
  t.strictSame(fast.members, expected.members, `${what}: options`)
}

t.test('every way of writing a number gives the bits JSON.parse gives', async (t) => {
  const random = mulberry32(16)
  const texts: string[] = [
    '0',
    '-0',
    '0.0',
    '-0.0',
    '0e0',
    '0E+5',
    '0e-999',
    '1e-400',
    '-1e-400',
    '1e38',
    '3.4028234663852886e38',
    '3.4028235e38',
    '-3.4028234e38',
  ]
  texts.push('1.401298464324817e-45', '7e-46', '7.1e-46', '1e-45', '5e-324', '1.17549435e-38', '123456789012345', '1234567890123456', '12345678901234567890')
  texts.push(
    '9007199254740993',
    '0.30000000000000004',
    '0.1',
    '0.000000000000000000000123',
    '1.5e22',
    '1.5e23',
    '1e22',
    '1e23',
    '4.35e-23',
    '100000000000000000000000',
  )
  texts.push('0.00001', '1E5', '2.5E-3', '1e+0', '0.1000000000000000055511151231257827', '123.456e-7', '8.98846567431158e307')
  for (let k = 0; k < 3000; k++) {
    const magnitude = 10 ** Math.floor(random() * 83 - 45)
    const x = (random() - 0.5) * 2 * magnitude
    const style = k % 6
    texts.push(
      style === 0
        ? String(x)
        : style === 1
          ? x.toExponential(Math.floor(random() * 20))
          : style === 2
            ? x.toFixed(Math.floor(random() * 20))
            : style === 3
              ? String(Math.fround(x))
              : style === 4
                ? String(Math.round(x * 1e6))
                : x.toPrecision(1 + Math.floor(random() * 21)).replace('e+', 'E'),
    )
  }
  const finite = texts.filter((s) => Math.abs(Number(s)) <= 3.4028234663852886e38)
  t.ok(finite.length > 2900, `${finite.length} numbers`)
  for (let k = 0; k < finite.length; k += 8) {
    const sample = finite.slice(k, k + 8)
    while (sample.length < 8) sample.push('1')
    same(t, `{"inputs": [[${sample.join(', ')}]]}`, 8, `numbers ${k}…${k + 7}`)
  }
})

t.test('random bodies: nesting, white space, several samples, options in any order', async (t) => {
  const random = mulberry32(7)
  const ws = () => [' ', '', '\n', '\t', '\r\n  ', ''][Math.floor(random() * 6)]!
  for (let k = 0; k < 400; k++) {
    const rows = 1 + Math.floor(random() * 4)
    const cols = 1 + Math.floor(random() * 4)
    const samples = 1 + Math.floor(random() * 5)
    const nested = random() < 0.5
    const sample = () => {
      const num = () => String(((random() - 0.5) * 100) / 10 ** Math.floor(random() * 5))
      const row = () => `[${ws()}${Array.from({ length: cols }, num).join(`${ws()},${ws()}`)}${ws()}]`
      return nested ? `[${Array.from({ length: rows }, row).join(`,${ws()}`)}]` : row().replace(/^\[/, '[').replace(/\]$/, ']')
    }
    const size = nested ? rows * cols : cols
    const members = [`"inputs"${ws()}:${ws()}[${Array.from({ length: samples }, sample).join(`,${ws()}`)}]`]
    if (random() < 0.5) members.push(`"top_k":${ws()}${1 + Math.floor(random() * 20)}`)
    if (random() < 0.5) members.push(`"calibrated":${random() < 0.5}`)
    if (random() < 0.3) members.push(`"return_logits"${ws()}:${ws()}${random() < 0.5}`)
    if (random() < 0.2) members.push(`"return_sets": false`)
    members.sort(() => random() - 0.5)
    same(t, `${ws()}{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}${ws()}`, size, `body ${k}`)
  }
})

t.test('a sample nested and ragged decodes as the slow path walks it', async (t) => {
  same(t, '{"inputs": [[[1, 2], [3]], [[4], [5, 6]]]}', 3, 'ragged rows')
  same(t, '{"inputs": [[[], [1, 2, 3]]]}', 3, 'an empty inner array holds no numbers')
  same(t, `{"inputs": [${'['.repeat(16)}1, 2${']'.repeat(16)}]}`, 2, 'sixteen levels')
})

t.test('what the scan leaves to the slow path', async (t) => {
  const refused: Array<[string, string]> = [
    ['', 'an empty body'],
    ['\ufeff{"inputs": [[1, 2]]}', 'a byte-order mark'],
    ['[[1, 2]]', 'not an object'],
    ['{}', 'no inputs'],
    ['{"inputs": []}', 'no samples'],
    ['{"inputs": [[]]}', 'an empty sample'],
    ['{"inputs": [[1, 2, 3]]}', 'too many numbers'],
    ['{"inputs": [[1]]}', 'too few numbers'],
    ['{"inputs": [1, 2]}', 'numbers where samples go'],
    ['{"inputs": [[1, "2"]]}', 'a string'],
    ['{"inputs": [[1, null]]}', 'null'],
    ['{"inputs": [[1, true]]}', 'a boolean'],
    ['{"inputs": [[1, {"a": 2}]]}', 'an object'],
    ['{"inputs": [[1, NaN]]}', 'NaN'],
    ['{"inputs": [[1, Infinity]]}', 'Infinity'],
    ['{"inputs": [[1, 1e39]]}', 'past float32'],
    ['{"inputs": [[1, -3.5e38]]}', 'past float32, negative'],
    ['{"inputs": [[1, 1e400]]}', 'an infinite double'],
    ['{"inputs": [[1, 01]]}', 'a leading zero'],
    ['{"inputs": [[1, 1.]]}', 'a point with no digits'],
    ['{"inputs": [[1, .5]]}', 'no integer part'],
    ['{"inputs": [[1, +1]]}', 'a plus sign'],
    ['{"inputs": [[1, -]]}', 'a lone minus'],
    ['{"inputs": [[1, 1e]]}', 'an exponent with no digits'],
    ['{"inputs": [[1, 0x1]]}', 'hexadecimal'],
    ['{"inputs": [[1, 2,]]}', 'a trailing comma in a sample'],
    ['{"inputs": [[1, 2],]}', 'a trailing comma in inputs'],
    ['{"inputs": [[1,, 2]]}', 'two commas'],
    ['{"inputs": [[1 2]]}', 'no comma'],
    ['{"inputs": [[1, 2]],}', 'a trailing comma in the object'],
    ['{"inputs": [[1, 2]]} x', 'bytes after the object'],
    ['{"inputs": [[1, 2]]}{}', 'a second value'],
    ['{"inputs": [[1, 2]]', 'unclosed'],
    ['{"inputs": [[1, 2]', 'unclosed inputs'],
    ['{"inputs": [[1, 2]], "inputs": [[3, 4]]}', 'inputs twice'],
    ['{"inputs": [[1, 2]], "top_k": 1, "top_k": 2}', 'an option twice'],
    ['{"inputs": [[1, 2]], "images": []}', 'images'],
    ['{"inputs": [[1, 2]], "topk": 1}', 'an unknown member'],
    ['{"inputs": [[1, 2]], "__proto__": {}}', '__proto__'],
    ['{"in\\u0070uts": [[1, 2]]}', 'an escape in a key'],
    ['{"inputs": [[1, 2]], "top_k": 0}', 'top_k 0'],
    ['{"inputs": [[1, 2]], "top_k": -1}', 'top_k negative'],
    ['{"inputs": [[1, 2]], "top_k": 1.0}', 'top_k written with a point'],
    ['{"inputs": [[1, 2]], "top_k": 1e1}', 'top_k with an exponent'],
    ['{"inputs": [[1, 2]], "top_k": 1234567890}', 'top_k of ten digits'],
    ['{"inputs": [[1, 2]], "top_k": "1"}', 'top_k a string'],
    ['{"inputs": [[1, 2]], "calibrated": 1}', 'a boolean as a number'],
    ['{"inputs": [[1, 2]], "calibrated": tru}', 'a misspelt boolean'],
    ['{"inputs": [[1, 2]], "calibrated": null}', 'a null option'],
    [`{"inputs": [${'['.repeat(17)}1, 2${']'.repeat(17)}]}`, 'seventeen levels'],
  ]
  for (const [body, what] of refused) t.equal(scan(body, 2), null, what)
  t.equal(scan('{"inputs": [[1, 2], [3, 4], [5, 6]]}', 2, 4), null, 'more numbers than maxNumbers')
  t.ok(scan('{"inputs": [[1, 2], [3, 4]]}', 2, 4), 'as many as maxNumbers')
})

t.test('bytes outside ASCII in a key are left to the slow path; a view into a larger buffer is read from its start', async (t) => {
  t.equal(scanJsonSamples(Buffer.from('{"inpüts": [[1, 2]]}', 'utf8'), 'inputs', 2, 16, OPTIONS), null)
  const framed = Buffer.from('xx{"inputs": [[1.5, 2]]}yy')
  const view = framed.subarray(2, framed.length - 2)
  t.strictSame(Array.from(scanJsonSamples(view, 'inputs', 2, 16, OPTIONS)!.data), [1.5, 2])
})

t.test('an Open Inference Protocol request: the same data bits and the same request as JSON.parse and the schema', async (t) => {
  const { parseInferRequest, decodeInput } = await import('../../src/http/v2/codec.js')
  const random = mulberry32(11)
  const ws = () => [' ', '', '\n  ', ''][Math.floor(random() * 4)]!
  for (let k = 0; k < 200; k++) {
    const rows = 1 + Math.floor(random() * 3)
    const cols = 1 + Math.floor(random() * 5)
    const nested = random() < 0.5
    const values = Array.from({ length: rows * cols }, () => String(((random() - 0.5) * 1000) / 10 ** Math.floor(random() * 6)))
    const data = nested
      ? `[${Array.from({ length: rows }, (_, r) => `[${values.slice(r * cols, (r + 1) * cols).join(',')}]`).join(`,${ws()}`)}]`
      : `[${values.join(`,${ws()}`)}]`
    const input = [`"name":"x"`, `"shape":${ws()}[${rows},${cols}]`, `"datatype":"FP32"`, `"data":${data}`].sort(() => random() - 0.5)
    const members = [`"inputs":[{${input.join(`,${ws()}`)}}]`]
    if (random() < 0.6)
      members.push(`"outputs":[${['{"name":"label"}', '{"name":"score"}', `{ "name" : "logits" }`].slice(0, Math.floor(random() * 4)).join(',')}]`)
    if (random() < 0.3) members.push(`"id":"r${k}"`)
    members.sort(() => random() - 0.5)
    const body = Buffer.from(`${ws()}{${members.join(`,${ws()}`)}}${ws()}`)
    const fast = scanInferRequest(body, 1 << 20)
    if (!fast) {
      t.fail(`body ${k}: refused ${body.toString()}`)
      continue
    }
    const slow = parseInferRequest(body, undefined, JSON.parse)
    const model = { name: 'x', shape: [cols] }
    t.strictSame(bits(fast.data), bits(decodeInput(slow, model, 1024).data), `body ${k}: float32 bits`)
    const { data: _data, ...slowInput } = slow.request.inputs[0]!
    t.strictSame(fast.request, { ...slow.request, inputs: [slowInput] }, `body ${k}: the request`)
  }
})

t.test('what the request scan leaves to the slow path', async (t) => {
  const ok = '{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}'
  t.ok(scanInferRequest(Buffer.from(ok), 16), 'the common request')
  const refused: Array<[string, string]> = [
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]},{"name":"y","shape":[1,2],"datatype":"FP32","data":[1,2]}]}', 'two inputs'],
    ['{"inputs":[]}', 'no input'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"INT32","data":[1,2]}]}', 'another datatype'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"BYTES","data":["a","b"]}]}', 'BYTES'],
    ['{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2]}]}', 'data not filling the shape'],
    ['{"inputs":[{"name":"x","shape":[0,2],"datatype":"FP32","data":[]}]}', 'a zero dimension'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}', 'binary data'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2],"parameters":{}}]}', 'input parameters'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}],"parameters":{"calibrated":false}}', 'request parameters'],
    [
      '{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}],"outputs":[{"name":"score","parameters":{"binary_data":true}}]}',
      'output parameters',
    ],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}],"id":7}', 'an id that is not a string'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}],"inputs":[]}', 'inputs twice'],
    ['{"inputs":[{"name":"x","name":"y","shape":[1,2],"datatype":"FP32","data":[1,2]}]}', 'a field twice'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,"2"]}]}', 'a string in data'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,1e39]}]}', 'past float32'],
    ['{"inputs":[{"name":"x\\u0041","shape":[1,2],"datatype":"FP32","data":[1,2]}]}', 'an escape in a name'],
    ['{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]} []', 'bytes after the request'],
  ]
  for (const [body, what] of refused) t.equal(scanInferRequest(Buffer.from(body), 16), null, what)
  t.equal(scanInferRequest(Buffer.from(ok), 1), null, 'more numbers than maxNumbers')
})
