// Splits a byte stream into lines with a bound on each line's length. Written by hand because
// node:readline has no such bound: it buffers a line of any length, and a 600 MB body without a
// newline ends in `RangeError: Invalid string length`. Splitting on the byte 0x0A is safe in UTF-8,
// where that byte never occurs inside a multi-byte character.
import type { Readable } from 'node:stream'
import { badInput, CalserveError } from '../errors.js'

const NEWLINE = 0x0a

/**
 * The chunks of a request body, at most `maxBytes` in all: past it a 413, counted as they arrive
 * (a chunked body has no Content-Length to refuse it by). A reader that stops early leaves the
 * stream alive (destroyOnReturn: false): destroying a request destroys its socket, and the client
 * would read a reset instead of the 4xx that says why; src/http/linger.ts closes the connection
 * once that answer is out.
 */
export async function* bodyChunks(stream: Readable, maxBytes: number, tooLarge = () => fitSetTooLarge(maxBytes)): AsyncGenerator<Buffer> {
  let bytes = 0
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > maxBytes) throw tooLarge()
    yield chunk
  }
}

/** A streamed fit set past its byte limit: 413, by Content-Length or by count. */
export function fitSetTooLarge(maxBytes: number): CalserveError {
  return new CalserveError('PAYLOAD_TOO_LARGE', `the fit set is larger than ${maxBytes} bytes`, { limit: maxBytes })
}

/**
 * A whole body of at most `maxBytes`, refused with `tooLarge()` by its Content-Length before a
 * byte is read, or, chunked, by counting as it arrives (Fastify's own limit, done here with a
 * message that names the limit that applies). Read with 'data' and 'end' listeners, as Fastify
 * reads a body: an async iterator over the request (its end-of-stream tracking and a promise per
 * chunk) took ~4% of a small JSON request's CPU in a profile of the bench's CNN row. Past the limit the stream is
 * left paused and alive, as bodyChunks leaves it.
 */
export function readBody(stream: Readable, contentLength: string | undefined, maxBytes: number, tooLarge: () => CalserveError): Promise<Buffer> {
  if (Number(contentLength) > maxBytes) return Promise.reject(tooLarge())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    // The listeners stay (the request is dropped with them) and do nothing once it is settled;
    // unnamed, because tsx names every named function it creates, at ~0.35 µs each.
    let settled = false
    stream.on('data', (chunk: Buffer) => {
      if (settled) return
      bytes += chunk.length
      if (bytes <= maxBytes) chunks.push(chunk)
      else {
        settled = true
        stream.pause()
        reject(tooLarge())
      }
    })
    stream.on('end', () => {
      if (settled) return
      settled = true
      resolve(Buffer.concat(chunks, bytes))
    })
    stream.on('error', (err: Error) => {
      if (settled) return
      settled = true
      reject(err)
    })
    // A request whose connection closed before its body ended ends with neither 'end' nor 'error'.
    stream.on('close', () => {
      if (settled) return
      settled = true
      reject(Object.assign(new Error('the request closed before its body ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    })
  })
}

/** Yields each line as a string (without its \n or \r\n), numbered from 1; a line past `maxLineBytes` is a 400 naming it. */
export async function* boundedLines(chunks: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<{ line: string; number: number }> {
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
  for await (const chunk of chunks) {
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

/** ndjson: each non-blank line parsed as JSON, numbered from 1; a line that is not JSON is a 400 naming it. */
export async function* jsonLines(stream: Readable, limits: { maxBytes: number; maxLineBytes: number }): AsyncGenerator<{ record: unknown; number: number }> {
  for await (const { line, number } of boundedLines(bodyChunks(stream, limits.maxBytes), limits.maxLineBytes)) {
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
