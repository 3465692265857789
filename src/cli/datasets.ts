// Labelled (or unlabelled) sets read from a file as an async iterator of {input, label?}, shared by
// `predict` and `fit`:
//   .csv           a header row; every column is a number of the sample, except one named `label`
//   .ndjson/.jsonl one {"input": sample, "label"?: name or index} (or a bare sample array) per line
//   .json          {"inputs": [...], "labels"?: [...]}, or an array of samples or of {input, label?}
// csv and ndjson are read as a stream; every error names the file and the line.
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { CliError, UsageError } from './output.js'

export type Label = string | number
export type Format = 'csv' | 'ndjson' | 'json'

export interface Sample {
  input: unknown
  label?: Label
  /** Where the sample is, for messages: `file.csv:12`, `file.json inputs[3]`. */
  where: string
}

export interface Dataset extends AsyncIterable<Sample> {
  path: string
  format: Format
  /** File size in bytes. */
  size: number
  /** Bytes of the file consumed so far (for progress). */
  bytesRead(): number
}

export class DatasetError extends CliError {}

const FORMATS: Record<string, Format> = { '.csv': 'csv', '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.json': 'json' }

export function formatOf(path: string): Format {
  const format = FORMATS[extname(path).toLowerCase()]
  if (!format) throw new UsageError(`cannot tell the format of '${path}': the file name must end in .csv, .ndjson, .jsonl or .json`)
  return format
}

export async function openDataset(path: string): Promise<Dataset> {
  const format = formatOf(path)
  let size: number
  try {
    const s = await stat(path)
    if (!s.isFile()) throw new DatasetError(`${path} is not a file`)
    size = s.size
  } catch (e) {
    if (e instanceof CliError) throw e
    throw new DatasetError(`cannot read ${path}: ${(e as Error).message}`)
  }
  const progress = { bytes: 0 }
  const samples = format === 'csv' ? () => csvSamples(path, progress) : format === 'ndjson' ? () => ndjsonSamples(path, progress) : () => jsonSamples(path, size, progress)
  return { path, format, size, bytesRead: () => progress.bytes, [Symbol.asyncIterator]: () => samples()[Symbol.asyncIterator]() }
}

/** Every sample of a file, in memory (for tests and small sets). */
export async function readDataset(path: string): Promise<Sample[]> {
  const all: Sample[] = []
  for await (const s of await openDataset(path)) all.push(s)
  return all
}

/** The lines of a file with their 1-based numbers, read as a stream; `\r\n` ends a line too. */
export async function* fileLines(path: string, progress: { bytes: number }): AsyncGenerator<{ text: string; line: number }> {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  let line = 0
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
      progress.bytes += chunk.length
      const parts = (rest + decoder.write(chunk)).split('\n')
      rest = parts.pop()!
      for (const p of parts) yield { text: p.endsWith('\r') ? p.slice(0, -1) : p, line: ++line }
    }
  } catch (e) {
    if (e instanceof CliError) throw e
    throw new DatasetError(`cannot read ${path}: ${(e as Error).message}`)
  }
  rest += decoder.end()
  if (rest !== '') yield { text: rest.endsWith('\r') ? rest.slice(0, -1) : rest, line: ++line }
}

async function* csvSamples(path: string, progress: { bytes: number }): AsyncGenerator<Sample> {
  let header: string[] | undefined
  let labelColumn = -1
  for await (const { text, line } of fileLines(path, progress)) {
    if (text.trim() === '') continue
    const where = `${path}:${line}`
    const cells = splitCsvLine(text, where)
    if (!header) {
      header = cells.map((c, i) => (i === 0 ? c.replace(/^\uFEFF/, '') : c).trim())
      labelColumn = header.findIndex((h) => h.toLowerCase() === 'label')
      if (header.length === (labelColumn >= 0 ? 1 : 0)) throw new DatasetError(`${where}: the header has no sample columns`)
      continue
    }
    if (cells.length !== header.length)
      throw new DatasetError(`${where}: ${cells.length} columns, but the header has ${header.length}`)
    const input: number[] = []
    let label: string | undefined
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i]!.trim()
      if (i === labelColumn) {
        if (v !== '') label = v
        continue
      }
      const n = Number(v)
      if (v === '' || !Number.isFinite(n))
        throw new DatasetError(`${where}: column '${header[i]}' is not a number: '${v.slice(0, 40)}'`)
      input.push(n)
    }
    yield label === undefined ? { input, where } : { input, label, where }
  }
  if (!header) throw new DatasetError(`${path}: the file is empty; a CSV set starts with a header row`)
}

/** Splits one CSV line on commas; fields may be "quoted", with "" for a quote inside. */
export function splitCsvLine(text: string, where: string): string[] {
  const cells: string[] = []
  let i = 0
  for (;;) {
    if (text[i] === '"') {
      let cell = ''
      i++
      for (;;) {
        const q = text.indexOf('"', i)
        if (q < 0) throw new DatasetError(`${where}: a quoted field is not closed`)
        cell += text.slice(i, q)
        if (text[q + 1] === '"') {
          cell += '"'
          i = q + 2
          continue
        }
        i = q + 1
        break
      }
      const comma = text.indexOf(',', i)
      const trailing = text.slice(i, comma < 0 ? undefined : comma)
      if (trailing.trim() !== '') throw new DatasetError(`${where}: text after a quoted field: '${trailing.slice(0, 40)}'`)
      cells.push(cell)
      if (comma < 0) return cells
      i = comma + 1
    } else {
      const comma = text.indexOf(',', i)
      cells.push(text.slice(i, comma < 0 ? undefined : comma))
      if (comma < 0) return cells
      i = comma + 1
    }
  }
}

async function* ndjsonSamples(path: string, progress: { bytes: number }): AsyncGenerator<Sample> {
  for await (const { text, line } of fileLines(path, progress)) {
    if (text.trim() === '') continue
    const where = `${path}:${line}`
    let record: unknown
    try {
      record = JSON.parse(text)
    } catch (e) {
      throw new DatasetError(`${where}: not valid JSON: ${(e as Error).message}`)
    }
    yield toSample(record, where, `${where}: expected {"input": [...], "label": ...} or an array`)
  }
}

async function* jsonSamples(path: string, size: number, progress: { bytes: number }): AsyncGenerator<Sample> {
  let doc: unknown
  try {
    doc = JSON.parse(await readFile(path, 'utf8'))
  } catch (e) {
    throw new DatasetError(`${path}: ${e instanceof SyntaxError ? 'not valid JSON: ' : 'cannot read: '}${(e as Error).message}`)
  }
  const shape = `${path}: expected {"inputs": [...], "labels"?: [...]} or an array of samples`
  let samples: Sample[]
  if (Array.isArray(doc)) {
    samples = doc.map((x, i) => toSample(x, `${path} [${i}]`, `${path} [${i}]: expected a sample array or {"input": [...], "label"?: ...}`))
  } else if (isObject(doc) && Array.isArray(doc.inputs)) {
    const { inputs, labels } = doc as { inputs: unknown[]; labels?: unknown }
    if (labels !== undefined && labels !== null && (!Array.isArray(labels) || labels.length !== inputs.length))
      throw new DatasetError(`${path}: "labels" must be an array as long as "inputs" (${inputs.length})`)
    samples = inputs.map((input, i) => {
      const where = `${path} inputs[${i}]`
      const label = Array.isArray(labels) ? checkLabel(labels[i], `${path} labels[${i}]`) : undefined
      return label === undefined ? { input, where } : { input, label, where }
    })
  } else {
    throw new DatasetError(shape)
  }
  for (let i = 0; i < samples.length; i++) {
    progress.bytes = Math.round((size * (i + 1)) / samples.length)
    yield samples[i]!
  }
  progress.bytes = size
}

function toSample(record: unknown, where: string, shape: string): Sample {
  if (Array.isArray(record)) return { input: record, where }
  if (!isObject(record) || !('input' in record)) throw new DatasetError(shape)
  const label = checkLabel(record.label, where)
  return label === undefined ? { input: record.input, where } : { input: record.input, label, where }
}

function checkLabel(value: unknown, where: string): Label | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' || typeof value === 'number') return value
  throw new DatasetError(`${where}: a label must be a label name or a class index, not ${JSON.stringify(value).slice(0, 40)}`)
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/**
 * A label as the model knows it: a label name, or a class index (a number or, from a CSV file, an
 * integer string that is not itself a name). Undefined when it is neither.
 */
export function findLabel(labels: readonly string[], value: Label): { name: string; index: number } | undefined {
  if (typeof value === 'string') {
    const named = labels.indexOf(value)
    if (named >= 0) return { name: value, index: named }
    if (!/^\s*\d+\s*$/.test(value)) return undefined
    value = Number(value)
  }
  if (Number.isInteger(value) && value >= 0 && value < labels.length) return { name: labels[value]!, index: value }
  return undefined
}
