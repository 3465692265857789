// Turns request samples into one contiguous float32 batch. All decoding of tensors from requests
// lives here, so every route rejects the same bad input with the same message.
import { badInput } from '../errors.js'

const FLOAT32_MAX = 3.4028234663852886e38
/** Deeper nesting than any image tensor needs; a guard against pathological bodies. */
export const MAX_SAMPLE_DEPTH = 16

export interface SampleProblem {
  sample: number
  reason: string
}

/**
 * Copies `samples` (each an array of numbers, flat or nested, holding exactly `sampleSize` of them)
 * into one Float32Array of samples.length × sampleSize. Throws CALSERVE_BAD_INPUT naming the first
 * bad sample and what is wrong with it.
 */
export function decodeJsonSamples(samples: readonly unknown[], sampleSize: number, field = 'inputs'): Float32Array {
  if (samples.length === 0) throw badInput(`${field} is empty: send at least one sample`, { field })
  const out = new Float32Array(samples.length * sampleSize)
  for (let i = 0; i < samples.length; i++) {
    const start = i * sampleSize
    const filled = fill(samples[i], out, start, start + sampleSize, 0, i, field)
    if (filled !== start + sampleSize) throw wrongCount(field, i, sampleSize, filled - start)
  }
  return out
}

// Depth-first copy; returns the next write position. Counting past `end` stops early so a huge
// sample doesn't get walked to the end before it is rejected.
function fill(v: unknown, out: Float32Array, pos: number, end: number, depth: number, i: number, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw sampleError(field, i, `contains ${v}: only finite numbers are accepted`)
    if (Math.abs(v) > FLOAT32_MAX) throw sampleError(field, i, `contains ${v}, outside the float32 range`)
    if (pos >= end) return pos + 1
    out[pos] = v
    return pos + 1
  }
  if (!Array.isArray(v)) {
    const what = v === null ? 'null' : typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 20))}` : typeof v
    throw sampleError(field, i, `contains ${what}: a sample holds only numbers, in arrays`)
  }
  if (depth >= MAX_SAMPLE_DEPTH) throw sampleError(field, i, `is nested deeper than ${MAX_SAMPLE_DEPTH} levels`)
  for (const x of v) {
    pos = fill(x, out, pos, end, depth + 1, i, field)
    if (pos > end) return pos
  }
  return pos
}

function sampleError(field: string, sample: number, reason: string) {
  return badInput(`${field}[${sample}] ${reason}`, { field, sample, reason })
}

function wrongCount(field: string, sample: number, expected: number, got: number) {
  const saw = got > expected ? `more than ${expected}` : String(got)
  return sampleError(field, sample, `holds ${saw} numbers; the model takes ${expected} per sample`)
}
