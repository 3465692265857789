// A byte scan of a JSON body before JSON.parse builds it: how deep it nests, how many values and
// how many numbers it holds. JSON.parse, the schema and the sample decoder each cost time in
// proportion to the values a body holds, on the event loop, before any limit of the route is
// checked; a 16 MB body nested 8e6 deep or holding 4e6 one-number samples blocked the loop for seconds. The scan is one pass over
// the bytes with no allocation, and stops at the first byte past either bound, so a refused body
// costs at most the scan of what was received.
import { CalserveError, badInput } from '../errors.js'
import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COMMA, DIGIT_0, DIGIT_9, MINUS, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './json-bytes.js'

export interface JsonBudget {
  /** Deepest nesting of arrays and objects accepted. */
  maxDepth: number
  /** Most values accepted, counted as containers opened plus commas (≥ every value but the first). */
  maxValues: number
  /** Names the limit that sets maxValues, for the message. */
  because: string
  /** Most numbers accepted (number literals, wherever they are). */
  maxNumbers: number
  /** Names the limit that sets maxNumbers, for the message. */
  numbersBecause: string
}

/** A byte that continues a number literal (digits, . e E + -): a digit after one starts no new number. */
const IN_NUMBER = new Uint8Array(256)
for (const c of '0123456789.eE+-') IN_NUMBER[c.charCodeAt(0)] = 1

/**
 * Throws CALSERVE_BAD_INPUT when `body[start, end)` nests deeper than the budget, and
 * CALSERVE_PAYLOAD_TOO_LARGE when it holds more values or numbers; malformed JSON is left to JSON.parse.
 */
export function checkJsonBudget(body: Uint8Array, budget: JsonBudget, start = 0, end = body.length): void {
  let depth = 0
  let values = 0
  let numbers = 0
  let inString = false
  let inNumber = false
  for (let i = start; i < end; i++) {
    const b = body[i]!
    if (inString) {
      if (b === BACKSLASH) i++
      else if (b === QUOTE) inString = false
      continue
    }
    if (IN_NUMBER[b] === 1) {
      if (!inNumber && (b === MINUS || (b >= DIGIT_0 && b <= DIGIT_9))) {
        inNumber = true
        if (++numbers > budget.maxNumbers)
          throw new CalserveError(
            'PAYLOAD_TOO_LARGE',
            `the JSON body holds more than ${budget.maxNumbers} numbers (${budget.numbersBecause}); send large batches as application/octet-stream float32 or v2 binary tensor data`,
            { field: 'body', reason: 'numbers', max_numbers: budget.maxNumbers },
          )
      }
      continue
    }
    inNumber = false
    if (b === QUOTE) inString = true
    else if (b === COMMA) values++
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      values++
      if (++depth > budget.maxDepth)
        throw badInput(`the JSON body is nested deeper than ${budget.maxDepth} levels`, { field: 'body', reason: 'depth', max_depth: budget.maxDepth })
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--
    if (values > budget.maxValues)
      throw new CalserveError('PAYLOAD_TOO_LARGE', `the JSON body holds more than ${budget.maxValues} values (${budget.because})`, {
        field: 'body',
        reason: 'values',
        max_values: budget.maxValues,
      })
  }
}

/** Arrays a sample may add to its numbers: [[x], [y], …] doubles them, plus a chain of nesting. */
const SAMPLE_OVERHEAD = 2
/** Room for the request's options, names and parameters beside the samples. */
const OPTIONS_VALUES = 256

/** The limits a request's samples are held to: CALSERVE_MAX_PREDICT_SAMPLES, CALSERVE_MAX_JSON_NUMBERS. */
export interface SampleLimits {
  maxSamples: number
  maxJsonNumbers: number
}

/** The most numbers a request's samples may hold: maxSamples × sampleSize, at most maxJsonNumbers. */
export function maxSampleNumbers(limits: SampleLimits, sampleSize: number): number {
  return Math.min(limits.maxSamples * sampleSize, limits.maxJsonNumbers)
}

/**
 * The budget of a request of at most `maxSamples` samples of `sampleSize` numbers each, and at most
 * `maxJsonNumbers` numbers in all, nested at most `sampleDepth` levels inside `envelopeDepth`
 * levels of request: any request the route accepts fits it, and any body within it costs
 * JSON.parse time in proportion to the smaller of maxSamples × sampleSize and maxJsonNumbers.
 */
export function sampleBudget(limits: SampleLimits, sampleSize: number, sampleDepth: number, envelopeDepth: number): JsonBudget {
  const { maxSamples, maxJsonNumbers } = limits
  const numbers = maxSampleNumbers(limits, sampleSize)
  return {
    maxDepth: sampleDepth + envelopeDepth,
    maxValues: SAMPLE_OVERHEAD * numbers + maxSamples * sampleDepth + OPTIONS_VALUES,
    because: `${maxSamples} samples (CALSERVE_MAX_PREDICT_SAMPLES) of ${sampleSize} numbers, at most ${maxJsonNumbers} numbers (CALSERVE_MAX_JSON_NUMBERS)`,
    maxNumbers: maxJsonNumbers + OPTIONS_VALUES,
    numbersBecause: `CALSERVE_MAX_JSON_NUMBERS is ${maxJsonNumbers}, and ${OPTIONS_VALUES} more for the options`,
  }
}
