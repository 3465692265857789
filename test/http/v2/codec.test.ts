// The codec's pure parts: printf("%f") as Triton's classification strings use it (std::to_string),
// and the decoding of every convertible datatype from JSON and from binary data.
import t from 'tap'
import { decodeInput, parseInferRequest } from '../../../src/http/v2/codec.js'
import { formatFixed6 } from '../../../src/serving/v2-outputs.js'

t.test('formatFixed6 writes what glibc printf("%f") writes, ties to even included', async (t) => {
  // Each pair printed by a C program: printf("%.17g %f", x, x) with glibc.
  const cases: Array<[number, string]> = [
    [0.0078125, '0.007812'],
    [0.0234375, '0.023438'],
    [-0.0078125, '-0.007812'],
    [-0.0234375, '-0.023438'],
    [9.9999999999999995e-8, '0.000000'],
    [-9.9999999999999995e-8, '-0.000000'],
    [0, '0.000000'],
    [-0, '-0.000000'],
    [1.5, '1.500000'],
    [123456789.125, '123456789.125000'],
    [3.4028234663852886e38, '340282346638528859811704183484516925440.000000'],
    [0.1, '0.100000'],
    [0.10000000149011612, '0.100000'],
    [4.9406564584124654e-324, '0.000000'],
    [2.5, '2.500000'],
    [-2.0000005000000001, '-2.000001'],
    [0.33333333333333331, '0.333333'],
    [0.3333333432674408, '0.333333'],
    [4.9999999999999998e-7, '0.000000'],
    [1.5e-6, '0.000002'],
    [1e22, '10000000000000000000000.000000'],
    [9.9999994999999995, '9.999999'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [Number.NaN, 'nan'],
  ]
  for (const [x, want] of cases) t.equal(formatFixed6(x), want, `${x}`)
})

t.test('every convertible datatype decodes to the same float32 samples, from JSON and from bytes', async (t) => {
  const values = [1, 0, 2, 3, 4, 1]
  const model = { name: 'x', shape: [3] }
  const writers: Record<string, [number, (b: Buffer, v: number, o: number) => void]> = {
    FP32: [4, (b, v, o) => b.writeFloatLE(v, o)],
    FP64: [8, (b, v, o) => b.writeDoubleLE(v, o)],
    INT8: [1, (b, v, o) => b.writeInt8(v, o)],
    INT16: [2, (b, v, o) => b.writeInt16LE(v, o)],
    INT32: [4, (b, v, o) => b.writeInt32LE(v, o)],
    INT64: [8, (b, v, o) => b.writeBigInt64LE(BigInt(v), o)],
    UINT8: [1, (b, v, o) => b.writeUInt8(v, o)],
    UINT16: [2, (b, v, o) => b.writeUInt16LE(v, o)],
    UINT32: [4, (b, v, o) => b.writeUInt32LE(v, o)],
    UINT64: [8, (b, v, o) => b.writeBigUInt64LE(BigInt(v), o)],
  }
  for (const [datatype, [size, write]] of Object.entries(writers)) {
    const fromJson = decodeInput(
      parseInferRequest(Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype, data: values }] })), undefined, JSON.parse),
      model,
      10,
    )
    t.same([...fromJson.data], values, `${datatype} from JSON`)
    t.equal(fromJson.n, 2)
    const blob = Buffer.alloc(values.length * size)
    values.forEach((v, i) => write(blob, v, i * size))
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype, parameters: { binary_data_size: blob.byteLength } }] }))
    const fromBytes = decodeInput(parseInferRequest(Buffer.concat([header, blob]), String(header.byteLength), JSON.parse), model, 10)
    t.same([...fromBytes.data], values, `${datatype} from bytes`)
  }
  // The extremes of the 64-bit integers are rounded to float32, as any value the model takes.
  const big = Buffer.alloc(16)
  big.writeBigInt64LE(-(2n ** 63n), 0)
  big.writeBigUInt64LE(2n ** 64n - 1n, 8)
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'UINT64', parameters: { binary_data_size: 16 } }] }))
  const header2 = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1], datatype: 'INT64', parameters: { binary_data_size: 8 } }] }))
  t.same([...decodeInput(parseInferRequest(Buffer.concat([header, big]), String(header.byteLength), JSON.parse), { name: 'x', shape: [2] }, 1).data].slice(1), [
    2 ** 64,
  ])
  t.same(
    [
      ...decodeInput(parseInferRequest(Buffer.concat([header2, big.subarray(0, 8)]), String(header2.byteLength), JSON.parse), { name: 'x', shape: [1] }, 1)
        .data,
    ],
    [-(2 ** 63)],
  )
})
