// Reads a fit set sent as raw little-endian float32 (application/octet-stream) as a stream, one
// sample at a time, straight into the LogitCollector's batch: like ndjson, a binary set of any
// size costs one batch of inputs in memory. Labels came with the request (query or header).
import type { Readable } from 'node:stream'
import { badInput } from '../errors.js'
import { bodyChunks } from './lines.js'
import { checkFinite } from './tensor.js'
import type { LogitCollector } from '../serving/collector.js'

export async function readFloat32Stream(stream: Readable, collector: LogitCollector, labels: number[], maxBytes: number): Promise<void> {
  const bytesPerSample = collector.sampleSize * 4
  let slot: Uint8Array = new Uint8Array(0)
  let filled = bytesPerSample // no sample started yet
  let bytes = 0
  let index = 0
  for await (const chunk of bodyChunks(stream, maxBytes)) {
    bytes += chunk.length
    let at = 0
    while (at < chunk.length) {
      if (filled === bytesPerSample) {
        if (index >= labels.length) throw tooLong(labels.length, bytes)
        const sample = collector.slot()
        slot = new Uint8Array(sample.buffer, sample.byteOffset, sample.byteLength)
        filled = 0
      }
      const take = Math.min(bytesPerSample - filled, chunk.length - at)
      slot.set(chunk.subarray(at, at + take), filled)
      filled += take
      at += take
      if (filled === bytesPerSample) {
        checkFinite(collector.slot(), index)
        await collector.commit(labels[index]!)
        index++
      }
    }
  }
  if (filled !== bytesPerSample)
    throw badInput(`the body holds ${bytes} bytes, not a whole number of samples of ${collector.sampleSize} float32 (${bytesPerSample} bytes)`, {
      field: 'body',
      bytes,
      bytes_per_sample: bytesPerSample,
    })
  if (index !== labels.length)
    throw badInput(`the body holds ${index} samples but labels has ${labels.length}`, { field: 'labels', inputs: index, labels: labels.length })
}

function tooLong(labels: number, bytes: number) {
  return badInput(`the body holds more samples than labels has (${labels}; ${bytes} bytes read so far)`, { field: 'labels', labels })
}
