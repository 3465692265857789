// A byte scan of a JSON body before JSON.parse builds it: how deep it nests and how many values it
// holds. JSON.parse, the schema and the sample decoder each cost time in proportion to the values a
// body holds, on the event loop, before any limit of the route is checked; a 16 MB body nested 8e6
// deep or holding 4e6 one-number samples blocked the loop for seconds. The scan is one pass over
// the bytes with no allocation, and stops at the first byte past either bound, so a refused body
// costs at most the scan of what was received.
import { CalserveError, badInput } from '../errors.js'

export interface JsonBudget {
  /** Deepest nesting of arrays and objects accepted. */
  maxDepth: number
  /** Most values accepted, counted as containers opened plus commas (≥ every value but the first). */
  maxValues: number
  /** Names the limit that sets maxValues, for the message. */
  because: string
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

/**
 * Throws CALSERVE_BAD_INPUT when `body[start, end)` nests deeper than the budget, and
 * CALSERVE_PAYLOAD_TOO_LARGE when it holds more values; malformed JSON is left to JSON.parse.
 */
export function checkJsonBudget(body: Uint8Array, budget: JsonBudget, start = 0, end = body.length): void {
  let depth = 0
  let values = 0
  let inString = false
  for (let i = start; i < end; i++) {
    const b = body[i]!
    if (inString) {
      if (b === BACKSLASH) i++
      else if (b === QUOTE) inString = false
      continue
    }
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

/**
 * The budget of a request of at most `maxSamples` samples of `sampleSize` numbers each, nested at
 * most `sampleDepth` levels inside `envelopeDepth` levels of request: any request the route accepts
 * fits it, and any body within it costs JSON.parse time in proportion to maxSamples × sampleSize.
 */
export function sampleBudget(maxSamples: number, sampleSize: number, sampleDepth: number, envelopeDepth: number): JsonBudget {
  return {
    maxDepth: sampleDepth + envelopeDepth,
    maxValues: maxSamples * (SAMPLE_OVERHEAD * sampleSize + sampleDepth) + OPTIONS_VALUES,
    because: `${maxSamples} samples (CALSERVE_MAX_PREDICT_SAMPLES) of ${sampleSize} numbers`,
  }
}
