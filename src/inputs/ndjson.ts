// Reads a fit set sent as application/x-ndjson — one {"input": sample, "label": name or index} per
// line — as a stream, one line at a time, into a LogitCollector. Errors name the line.
import type { Readable } from 'node:stream'
import { badInput, CalserveError } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import { boundedLines } from './lines.js'
import { decodeSample } from './tensor.js'
import { resolveLabel, type LogitCollector } from '../serving/collector.js'

export interface StreamLimits {
  maxBytes: number
  maxLineBytes: number
}

export async function readNdjson(stream: Readable, model: ReadyModel, collector: LogitCollector, limits: StreamLimits): Promise<void> {
  let bytes = 0
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > limits.maxBytes)
      stream.destroy(new CalserveError('PAYLOAD_TOO_LARGE', `the fit set is larger than ${limits.maxBytes} bytes`, { limit: limits.maxBytes }))
  })
  for await (const { line, number: lineNo } of boundedLines(stream, limits.maxLineBytes)) {
    if (line.trim() === '') continue
    let record: unknown
    try {
      record = JSON.parse(line)
    } catch (err) {
      throw badInput(`line ${lineNo} is not valid JSON: ${(err as Error).message}`, { field: 'body', line: lineNo })
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record) || !('input' in record) || !('label' in record))
      throw badInput(`line ${lineNo} must be an object with "input" and "label"`, { field: 'body', line: lineNo })
    const { input, label } = record as { input: unknown; label: unknown }
    const where = `line ${lineNo}`
    decodeSample(input, collector.slot(), { where: `${where} input`, details: { field: 'body', line: lineNo } })
    await collector.commit(resolveLabel(model, label, `${where} label`))
  }
}
