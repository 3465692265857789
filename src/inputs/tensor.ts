// Turns request samples into contiguous float32. All decoding of tensors from requests lives here,
// so every route and every encoding rejects the same bad input with the same message.
import { badInput } from '../errors.js'

/** The largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38
/** Deeper nesting than any image tensor needs; a guard against pathological bodies. */
export const MAX_SAMPLE_DEPTH = 16

/**
 * A Float32Array of `count` for a request's samples, its contents unset (the caller writes every
 * element). Small ones are views into Buffer's pool: a Float32Array past 64 bytes gets a backing
 * store of its own, 0.5–1.3 µs on this machine — as much as decoding a 64-number sample — and the
 * pool hands out 8-byte-aligned slices for a fraction of that.
 */
export function float32(count: number): Float32Array {
  if (count * 4 >= Buffer.poolSize >>> 1) return new Float32Array(count)
  const bytes = Buffer.allocUnsafe(count * 4)
  return new Float32Array(bytes.buffer, bytes.byteOffset, count)
}

/** Where a sample came from, for error messages and details: `inputs[3]`, `line 7`. */
export interface SampleRef {
  where: string
  details: Record<string, unknown>
}

/**
 * Copies `samples` (each an array of numbers, flat or nested, holding exactly `sampleSize` of them)
 * into one Float32Array of samples.length × sampleSize. Throws CALSERVE_BAD_INPUT naming the first
 * bad sample and what is wrong with it.
 */
export function decodeJsonSamples(samples: readonly unknown[], sampleSize: number, field = 'inputs'): Float32Array {
  if (samples.length === 0) throw badInput(`${field} is empty: send at least one sample`, { field })
  const out = float32(samples.length * sampleSize)
  for (let i = 0; i < samples.length; i++) {
    decodeSample(samples[i], out.subarray(i * sampleSize, (i + 1) * sampleSize), {
      where: `${field}[${i}]`,
      details: { field, sample: i },
    })
  }
  return out
}

/** Copies one sample into `slot`, which it must fill exactly. */
export function decodeSample(sample: unknown, slot: Float32Array, ref: SampleRef): void {
  const filled = fill(sample, slot, 0, 0, ref)
  if (filled !== slot.length) {
    const saw = filled > slot.length ? `more than ${slot.length}` : String(filled)
    throw sampleError(ref, `holds ${saw} numbers; the model takes ${slot.length} per sample`)
  }
}

/**
 * Checks a raw little-endian float32 body: a whole number of samples, every value finite.
 * Returns the samples as a Float32Array view (copied only when the buffer is unaligned).
 */
export function decodeFloat32Body(body: Buffer, sampleSize: number): { data: Float32Array; n: number } {
  const bytesPerSample = sampleSize * 4
  if (body.byteLength === 0) throw badInput('the body is empty: send at least one sample', { field: 'body' })
  if (body.byteLength % bytesPerSample !== 0)
    throw badInput(`the body holds ${body.byteLength} bytes, not a whole number of samples of ${sampleSize} float32 (${bytesPerSample} bytes)`, {
      field: 'body',
      bytes: body.byteLength,
      bytes_per_sample: bytesPerSample,
    })
  const data =
    body.byteOffset % 4 === 0
      ? new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4)
      : new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength))
  const n = body.byteLength / bytesPerSample
  const bad = firstNonFinite(data)
  if (bad !== -1) checkFinite(data.subarray(bad - (bad % sampleSize), bad - (bad % sampleSize) + sampleSize), Math.floor(bad / sampleSize))
  return { data, n }
}

/** Refuses a binary sample holding NaN or ±Infinity; `sample` numbers it in the message. */
export function checkFinite(sample: Float32Array, index: number): void {
  const bad = firstNonFinite(sample)
  if (bad !== -1)
    throw sampleError({ where: `sample ${index}`, details: { field: 'body', sample: index } }, `contains ${sample[bad]}: only finite numbers are accepted`)
}

/**
 * The index of the first NaN or ±Infinity in `data`, or -1: one pass over the whole request (a float32
 * is not finite when its exponent bits are all ones, read through an integer view when aligned);
 * the sample it falls in is worked out only for the message.
 */
export function firstNonFinite(data: Float32Array): number {
  const bits = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.length) : null
  if (!bits) return data.findIndex((v) => !Number.isFinite(v))
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i
  return -1
}

/**
 * Copies the numbers of `v` (an array of numbers, flat or nested) into `out` with the same checks as
 * decodeSample, and returns how many it holds, without requiring it to fill `out`: the caller says
 * what a wrong count means. Counting stops past `out.length`. `check` may refuse a value with a
 * reason (the Open Inference Protocol's integer datatypes use it for their ranges).
 */
export function fillNumbers(v: unknown, out: Float32Array, ref: SampleRef, check?: (x: number) => string | undefined): number {
  return fill(v, out, 0, 0, ref, check)
}

/** The check every number from a request passes: finite and within the float32 range. */
export function checkNumber(v: number, ref: SampleRef): void {
  if (!Number.isFinite(v)) throw sampleError(ref, `contains ${v}: only finite numbers are accepted`)
  if (Math.abs(v) > FLOAT32_MAX) throw sampleError(ref, `contains ${v}, outside the float32 range`)
}

// Depth-first copy; returns how many numbers the sample holds so far. Writing stops at the end of
// `out`, and so does the walk, so a huge sample is rejected without being walked to its end.
function fill(v: unknown, out: Float32Array, pos: number, depth: number, ref: SampleRef, check?: (x: number) => string | undefined): number {
  if (typeof v === 'number') {
    checkNumber(v, ref)
    if (check) {
      const reason = check(v)
      if (reason !== undefined) throw sampleError(ref, reason)
    }
    if (pos < out.length) out[pos] = v
    return pos + 1
  }
  if (!Array.isArray(v)) {
    const what =
      v === null ? 'null' : typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 20))}` : `a${typeof v === 'object' ? 'n' : ''} ${typeof v}`
    throw sampleError(ref, `contains ${what}: a sample holds only numbers, in arrays`)
  }
  if (depth >= MAX_SAMPLE_DEPTH) throw sampleError(ref, `is nested deeper than ${MAX_SAMPLE_DEPTH} levels`)
  for (const x of v) {
    pos = fill(x, out, pos, depth + 1, ref, check)
    if (pos > out.length) return pos
  }
  return pos
}

function sampleError(ref: SampleRef, reason: string) {
  return badInput(`${ref.where} ${reason}`, { ...ref.details, reason })
}
