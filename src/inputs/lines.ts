// Splits a byte stream into lines with a bound on each line's length. Written by hand because
// node:readline has no such bound: it buffers a line of any length, and a 600 MB body without a
// newline ends in `RangeError: Invalid string length`. Splitting on the byte 0x0A is safe in UTF-8,
// where that byte never occurs inside a multi-byte character.
import type { Readable } from 'node:stream'
import { badInput, CalserveError } from '../errors.js'

const NEWLINE = 0x0a

/** Yields each line as a string (without its \n or \r\n), numbered from 1; a line past `maxLineBytes` is a 400 naming it. */
export async function* boundedLines(stream: Readable, maxLineBytes: number): AsyncGenerator<{ line: string; number: number }> {
  let pending: Buffer[] = []
  let pendingBytes = 0
  let number = 0
  const tooLong = () => badInput(`line ${number + 1} is longer than ${maxLineBytes} bytes`, { field: 'body', line: number + 1, max_line_bytes: maxLineBytes })
  const take = (tail: Buffer): string => {
    const bytes = pending.length === 0 ? tail : Buffer.concat([...pending, tail])
    pending = []
    pendingBytes = 0
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length
    return bytes.toString('utf8', 0, end)
  }
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, start)) {
      if (pendingBytes + (at - start) > maxLineBytes) throw tooLong()
      const line = take(chunk.subarray(start, at))
      number++
      yield { line, number }
      start = at + 1
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start
      if (pendingBytes > maxLineBytes) throw tooLong()
      pending.push(chunk.subarray(start))
    }
  }
  if (pendingBytes > 0) {
    const line = take(Buffer.alloc(0))
    number++
    yield { line, number }
  }
}

/** A body of at most `maxBytes`: past it the stream fails with 413 (counted as it arrives). */
export function limitBytes(stream: Readable, maxBytes: number): void {
  let bytes = 0
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > maxBytes) stream.destroy(new CalserveError('PAYLOAD_TOO_LARGE', `the fit set is larger than ${maxBytes} bytes`, { limit: maxBytes }))
  })
}

/** ndjson: each non-blank line parsed as JSON, numbered from 1; a line that is not JSON is a 400 naming it. */
export async function* jsonLines(stream: Readable, limits: { maxBytes: number; maxLineBytes: number }): AsyncGenerator<{ record: unknown; number: number }> {
  limitBytes(stream, limits.maxBytes)
  for await (const { line, number } of boundedLines(stream, limits.maxLineBytes)) {
    if (line.trim() === '') continue
    let record: unknown
    try {
      record = JSON.parse(line)
    } catch (err) {
      throw badInput(`line ${number} is not valid JSON: ${(err as Error).message}`, { field: 'body', line: number })
    }
    yield { record, number }
  }
}
