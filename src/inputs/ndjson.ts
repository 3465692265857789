// Reads a fit set sent as application/x-ndjson — one {"input": sample, "label": name or index} per
// line — as a stream, one line at a time, into a LogitCollector. Errors name the line.
import type { Readable } from 'node:stream'
import { badInput } from '../errors.js'
import type { ReadyModel } from '../models/repository.js'
import { jsonLines } from './lines.js'
import { decodeSample } from './tensor.js'
import { resolveLabel, type LogitCollector } from '../serving/collector.js'

export interface StreamLimits {
  maxBytes: number
  maxLineBytes: number
}

export async function readNdjson(stream: Readable, model: ReadyModel, collector: LogitCollector, limits: StreamLimits): Promise<void> {
  for await (const { record, number: lineNo } of jsonLines(stream, limits)) {
    if (typeof record !== 'object' || record === null || Array.isArray(record) || !('input' in record) || !('label' in record))
      throw badInput(`line ${lineNo} must be an object with "input" and "label"`, { field: 'body', line: lineNo })
    const { input, label } = record
    const where = `line ${lineNo}`
    decodeSample(input, collector.slot(), { where: `${where} input`, details: { field: 'body', line: lineNo } })
    await collector.commit(resolveLabel(model, label, `${where} label`))
  }
}
