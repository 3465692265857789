// One pass from a JSON body of samples straight into float32: `{"inputs": [[0.1, …], …], "top_k": 3}`
// becomes a Float32Array and the few scalar options beside it, without JSON.parse building an array
// per sample and a number per value, the schema walking them and the decoder copying them again
// (2.9 µs against 5.3 µs for a 64-number sample, 1.5 ms against 3.2 ms for 37,632 numbers:
// `npx tsx bench/json-decode.ts`). Written by hand because no JSON library decodes into a typed
// array with float32's exact rounding.
//
// The pass is a fast path, never a second grammar: it accepts only the common shape — one object,
// known members each once, samples that are arrays of JSON numbers holding exactly sampleSize of
// them — and returns null for anything else, valid or not, so that JSON.parse, the schema and
// src/inputs/tensor.ts decide it with their messages. Whatever it accepts decodes to the same bits
// as that slow path: every number is the double JSON.parse would give, stored into float32.
import {
  BACKSLASH,
  CLOSE_ARRAY,
  CLOSE_OBJECT,
  COLON,
  COMMA,
  DIGIT_0,
  DIGIT_1,
  DIGIT_9,
  DOT,
  LOWER_E,
  MINUS,
  OPEN_ARRAY,
  OPEN_OBJECT,
  PLUS,
  QUOTE,
  UPPER_E,
} from './json-bytes.js'
import { float32, FLOAT32_MAX, MAX_SAMPLE_DEPTH } from './tensor.js'

/** A body the scan decoded: the route's schema has nothing left to check on it. */
export class ScannedSamples {
  constructor(
    /** n × sampleSize float32, sample after sample. */
    readonly data: Float32Array,
    readonly n: number,
    /** The scalar members present, by name. */
    readonly members: Readonly<Record<string, boolean | number>>,
  ) {}
}

/** What a scalar member may hold: true/false, or an integer ≥ 1 written as plain digits. */
export type MemberKind = 'boolean' | 'positive-integer'

/** 10^0 … 10^22: every one an exact double, so one multiply or divide by it rounds once. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`))
/** Below 2^53, so a mantissa of this many digits is an exact double. */
const MAX_EXACT_DIGITS = 15

const isDigit = (c: number | undefined) => c !== undefined && c >= DIGIT_0 && c <= DIGIT_9
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

// The samples are decoded into one scratch array, kept between calls (the scan is synchronous), then
// copied out at their size (float32(): from Buffer's pool when small). The scratch grows to the
// largest size asked for, at most a scan's maxNumbers (CALSERVE_MAX_JSON_NUMBERS floats).
let scratchArray = new Float32Array(1024)
function scratch(size: number): Float32Array {
  if (scratchArray.length < size) scratchArray = new Float32Array(size)
  return scratchArray.subarray(0, size)
}
function copyOut(from: Float32Array, count: number): Float32Array {
  const out = float32(count)
  out.set(from.subarray(0, count))
  return out
}

/** Thrown inside the scan for any byte outside the fast path's shape; never leaves this module (one object, made once: a throw captures no stack). */
const NOT_FAST = new Error('not the fast path')

/** An Open Inference Protocol JSON request the scan decoded: the request as the schema gives it, without its input's data, and that data. */
export interface ScannedInfer {
  request: { id?: string; inputs: [{ name: string; shape: number[]; datatype: 'FP32' }]; outputs?: Array<{ name: string }> }
  data: Float32Array
}

/**
 * Decodes an inference request of the Open Inference Protocol (REST v2) in one pass, or returns null
 * when it is not the common shape: one FP32 input `{"name", "shape", "datatype", "data"}` whose data
 * holds prod(shape) numbers, `outputs` named without parameters, an `id`; nothing else (no
 * parameters, no binary data). `maxNumbers` bounds the numbers decoded.
 */
export function scanInferRequest(body: Buffer, maxNumbers: number): ScannedInfer | null {
  try {
    return new Scan(body, 0, maxNumbers).infer()
  } catch (err) {
    if (err === NOT_FAST) return null
    throw err
  }
}

/**
 * Decodes `{"<field>": [sample, …], <member>: value, …}` from `body`, or returns null when the body
 * is not exactly that shape (then the caller parses it the slow way). `members` names the scalar
 * members allowed beside the samples; `maxNumbers` bounds the numbers decoded (and so the samples).
 */
export function scanJsonSamples(
  body: Buffer,
  field: string,
  sampleSize: number,
  maxNumbers: number,
  members: Readonly<Record<string, MemberKind>>,
): ScannedSamples | null {
  try {
    return new Scan(body, sampleSize, maxNumbers).object(field, members)
  } catch (err) {
    if (err === NOT_FAST) return null
    throw err
  }
}

class Scan {
  private i = 0

  constructor(
    private readonly b: Buffer,
    private readonly sampleSize: number,
    private readonly maxNumbers: number,
  ) {}

  object(field: string, kinds: Readonly<Record<string, MemberKind>>): ScannedSamples {
    const members: Record<string, boolean | number> = {}
    let samples: { data: Float32Array; n: number } | undefined
    this.members((key) => {
      if (key === field && samples === undefined) samples = this.samples()
      else if (Object.hasOwn(kinds, key) && !Object.hasOwn(members, key)) members[key] = kinds[key] === 'boolean' ? this.boolean() : this.positiveInteger()
      else throw NOT_FAST
    })
    this.end()
    if (samples === undefined) throw NOT_FAST
    return new ScannedSamples(samples.data, samples.n, members)
  }

  /** The samples array: at least one sample, each an array (nested or not) of exactly sampleSize numbers. */
  private samples(): { data: Float32Array; n: number } {
    const { sampleSize } = this
    const out = this.scratch()
    let count = 0
    this.expect(OPEN_ARRAY)
    for (;;) {
      const end = count + sampleSize
      if (end > out.length || this.array(out, count, end) !== end) throw NOT_FAST
      count = end
      const next = this.next()
      if (next === CLOSE_ARRAY) return { data: copyOut(out, count), n: count / sampleSize }
      if (next !== COMMA) throw NOT_FAST
    }
  }

  /** Room for every number this body may hold, at most maxNumbers: each takes two bytes or more with its separator. */
  private scratch(): Float32Array {
    return scratch(Math.min(this.maxNumbers, Math.ceil(this.b.length / 2)))
  }

  /**
   * One array of numbers, nested at most MAX_SAMPLE_DEPTH deep (as src/inputs/tensor.ts allows),
   * written into `out` from `count` on, at most up to `limit`; answers the count after it.
   */
  private array(out: Float32Array, count: number, limit: number): number {
    const b = this.b
    this.space()
    if (b[this.i] !== OPEN_ARRAY) throw NOT_FAST
    // `depth` counts the arrays open.
    let depth = 0
    value: for (;;) {
      this.space()
      if (b[this.i] === OPEN_ARRAY) {
        if (++depth > MAX_SAMPLE_DEPTH) throw NOT_FAST
        this.i++
        this.space()
        if (b[this.i] !== CLOSE_ARRAY) continue
        // An empty array: a value of no numbers.
        this.i++
        if (--depth === 0) return count
      } else {
        if (count === limit) throw NOT_FAST
        out[count++] = this.number()
      }
      // After a value: more values, or the close of one or more arrays.
      for (;;) {
        const next = this.next()
        if (next === COMMA) continue value
        if (next !== CLOSE_ARRAY) throw NOT_FAST
        if (--depth === 0) return count
      }
    }
  }

  /** An Open Inference Protocol request of one FP32 input with JSON data, outputs by name only, and an id. */
  infer(): ScannedInfer {
    let input: ScannedInfer | undefined
    let outputs: Array<{ name: string }> | undefined
    let id: string | undefined
    this.members((key) => {
      if (key === 'inputs' && input === undefined) {
        this.expect(OPEN_ARRAY)
        input = this.input()
        if (this.next() !== CLOSE_ARRAY) throw NOT_FAST
      } else if (key === 'outputs' && outputs === undefined) outputs = this.outputs()
      else if (key === 'id' && id === undefined) id = this.string()
      else throw NOT_FAST
    })
    this.end()
    if (input === undefined) throw NOT_FAST
    const request: ScannedInfer['request'] = { inputs: input.request.inputs }
    if (id !== undefined) request.id = id
    if (outputs !== undefined) request.outputs = outputs
    return { request, data: input.data }
  }

  /** {"name", "shape", "datatype": "FP32", "data"}, in any order, each once; data holding prod(shape) numbers. */
  private input(): ScannedInfer {
    let name: string | undefined
    let shape: number[] | undefined
    let datatype: string | undefined
    let data: Float32Array | undefined
    this.members((key) => {
      if (key === 'name' && name === undefined) name = this.string()
      else if (key === 'datatype' && datatype === undefined) datatype = this.string()
      else if (key === 'shape' && shape === undefined) shape = this.dims()
      else if (key === 'data' && data === undefined) {
        const out = this.scratch()
        data = copyOut(out, this.array(out, 0, out.length))
      } else throw NOT_FAST
    })
    if (name === undefined || shape === undefined || datatype !== 'FP32' || data === undefined) throw NOT_FAST
    if (shape.reduce((a, d) => a * d, 1) !== data.length) throw NOT_FAST
    return { request: { inputs: [{ name, shape, datatype }] }, data }
  }

  /** [{"name": …}, …]: outputs named, with no parameters. */
  private outputs(): Array<{ name: string }> {
    const outputs: Array<{ name: string }> = []
    this.expect(OPEN_ARRAY)
    this.space()
    if (this.b[this.i] === CLOSE_ARRAY) {
      this.i++
      return outputs
    }
    for (;;) {
      this.expect(OPEN_OBJECT)
      if (this.string() !== 'name') throw NOT_FAST
      this.expect(COLON)
      outputs.push({ name: this.string() })
      this.expect(CLOSE_OBJECT)
      const next = this.next()
      if (next === CLOSE_ARRAY) return outputs
      if (next !== COMMA) throw NOT_FAST
    }
  }

  /** A shape: [d, …], each a positive integer. */
  private dims(): number[] {
    const dims: number[] = []
    this.expect(OPEN_ARRAY)
    for (;;) {
      dims.push(this.positiveInteger())
      const next = this.next()
      if (next === CLOSE_ARRAY) return dims
      if (next !== COMMA) throw NOT_FAST
    }
  }

  /**
   * A JSON number as the double JSON.parse gives: up to 15 significant digits and a power of ten
   * within ±22 is Clinger's exact case (both operands are exact doubles, and one IEEE multiply or
   * divide rounds correctly), which V8 takes too; any other is converted by Number(), as JSON.parse does.
   * Finite and within float32's range, or not the fast path.
   */
  private number(): number {
    const b = this.b
    const start = this.i
    let i = start
    // `| 0` reads past the end as 0, which is no token: no bounds checks in the loops.
    let c = b[i]! | 0
    const negative = c === MINUS
    if (negative) c = b[++i]! | 0
    let mantissa = 0
    let digits = 0
    let exponent = 0
    let exact = true
    let d = c - DIGIT_0
    if (d === 0) c = b[++i]! | 0
    else if (d > 0 && d <= 9)
      for (; d >>> 0 <= 9; d = (c = b[++i]! | 0) - DIGIT_0) {
        if (digits === MAX_EXACT_DIGITS) exact = false
        else {
          mantissa = mantissa * 10 + d
          digits++
        }
      }
    else throw NOT_FAST
    if (c === DOT) {
      d = (c = b[++i]! | 0) - DIGIT_0
      if (d >>> 0 > 9) throw NOT_FAST
      for (; d >>> 0 <= 9; d = (c = b[++i]! | 0) - DIGIT_0) {
        // Leading zeros of the fraction only move the point.
        if (mantissa === 0 && d === 0) exponent--
        else if (digits === MAX_EXACT_DIGITS) exact = false
        else {
          mantissa = mantissa * 10 + d
          digits++
          exponent--
        }
      }
    }
    if (c === LOWER_E || c === UPPER_E) {
      c = b[++i]! | 0
      const sign = c === MINUS ? -1 : 1
      if (c === MINUS || c === PLUS) c = b[++i]! | 0
      d = c - DIGIT_0
      if (d >>> 0 > 9) throw NOT_FAST
      let e = 0
      for (; d >>> 0 <= 9; d = (b[++i]! | 0) - DIGIT_0) if (e < 100_000) e = e * 10 + d
      exponent += sign * e
    }
    this.i = i
    const v =
      exact && exponent >= -22 && exponent <= 22
        ? (negative ? -1 : 1) * (exponent < 0 ? mantissa / POW10[-exponent]! : mantissa * POW10[exponent]!)
        : Number(b.toString('latin1', start, i))
    if (!(Math.abs(v) <= FLOAT32_MAX)) throw NOT_FAST
    return v
  }

  /** An object of at least one member: `value(key)` reads each member's value (or throws NOT_FAST). */
  private members(value: (key: string) => void): void {
    this.expect(OPEN_OBJECT)
    for (;;) {
      const key = this.string()
      this.expect(COLON)
      value(key)
      const separator = this.next()
      if (separator === COMMA) continue
      if (separator !== CLOSE_OBJECT) throw NOT_FAST
      return
    }
  }

  /** Nothing but white space left. */
  private end(): void {
    this.space()
    if (this.i !== this.b.length) throw NOT_FAST
  }

  /** A string of printable ASCII without escapes (a key, a name); anything else is left to the slow path. */
  private string(): string {
    const b = this.b
    this.space()
    if (b[this.i] !== QUOTE) throw NOT_FAST
    const start = ++this.i
    for (;;) {
      const c = b[this.i]
      if (c === undefined || c === BACKSLASH || c < 0x20 || c >= 0x80) throw NOT_FAST
      if (c === QUOTE) break
      this.i++
    }
    return b.toString('latin1', start, this.i++)
  }

  private boolean(): boolean {
    this.space()
    if (this.word('true')) return true
    if (this.word('false')) return false
    throw NOT_FAST
  }

  /** 1 to 999,999,999 in plain digits; anything else (0, 1.0, 1e2, -1) is left to the schema. */
  private positiveInteger(): number {
    const b = this.b
    this.space()
    if (!(b[this.i]! >= DIGIT_1 && b[this.i]! <= DIGIT_9)) throw NOT_FAST
    let v = 0
    let digits = 0
    while (isDigit(b[this.i])) {
      if (++digits > 9) throw NOT_FAST
      v = v * 10 + (b[this.i++]! - DIGIT_0)
    }
    return v
  }

  private word(w: string): boolean {
    for (let k = 0; k < w.length; k++) if (this.b[this.i + k] !== w.charCodeAt(k)) return false
    this.i += w.length
    return true
  }

  private expect(c: number): void {
    this.space()
    if (this.b[this.i] !== c) throw NOT_FAST
    this.i++
  }

  /** The next byte that is not white space, consumed. */
  private next(): number | undefined {
    this.space()
    return this.b[this.i++]
  }

  private space(): void {
    while (isSpace(this.b[this.i])) this.i++
  }
}
