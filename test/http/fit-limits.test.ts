// Issue 18 item 1: a fit body can't take the process down. On the landed main a 600 MB ndjson line
// without a newline threw `RangeError: Invalid string length` out of readline and a 600 MB JSON
// body `Cannot create a string longer than 0x1fffffe8 characters`; both closed the server. Now a
// line past CALSERVE_FIT_MAX_LINE_BYTES is a 400 naming it, a JSON set past
// CALSERVE_FIT_JSON_BODY_LIMIT_BYTES a 413, and the server answers the next request. The limits
// are set small here so the test sends megabytes, not gigabytes; the code path is the same.
import { Readable } from 'node:stream'
import t from 'tap'
import { build } from '../helper.js'

const FIT = '/v1/models/tiny/calibration/fit'

t.test('an ndjson line past the line limit is a 400 naming the line, read without buffering the body', async (t) => {
  const app = await build(t, { CALSERVE_FIT_MAX_LINE_BYTES: String(64 * 1024) })
  // 8 MB in 64 KiB chunks, no newline: the reader must refuse at the first 64 KiB past the bound.
  let sent = 0
  const body = new Readable({
    read() {
      if (sent >= 8 * 1024 * 1024) return this.push(null)
      sent += 65536
      this.push(Buffer.alloc(65536, 0x31))
    },
  })
  const res = await app.inject({ method: 'POST', url: FIT, headers: { 'content-type': 'application/x-ndjson' }, payload: body })
  t.equal(res.statusCode, 400)
  t.ok(sent < 8 * 1024 * 1024, `refused before the body ended (${sent} bytes read)`)
  const err = res.json<{ error: { code: string; message: string; details: { line: number } } }>()
  t.equal(err.error.code, 'CALSERVE_BAD_INPUT')
  t.match(err.error.message, /^line 1 is longer than 65536 bytes/)
  t.equal(err.error.details.line, 1)

  // A long line after good ones names its own number.
  const good = JSON.stringify({ input: [0, 1, 2], label: 'cat' })
  const res2 = await app.inject({ method: 'POST', url: FIT, headers: { 'content-type': 'application/x-ndjson' }, payload: `${good}\n${good}\n${'9'.repeat(70_000)}\n` })
  t.equal(res2.statusCode, 400)
  t.match(res2.json().error.message, /^line 3 is longer than 65536 bytes/)

  const health = await app.inject({ url: '/health/live' })
  t.equal(health.statusCode, 200, 'the server still answers')
  const history = await app.inject({ url: '/v1/models/tiny/calibration/history' })
  t.equal(history.json().versions.length, 0, 'nothing was stored')
})

t.test('a JSON fit body past its own limit is a 413 (the streamed encodings keep the large limit)', async (t) => {
  const app = await build(t, { CALSERVE_FIT_JSON_BODY_LIMIT_BYTES: String(256 * 1024) })
  const big = JSON.stringify({ inputs: Array.from({ length: 60_000 }, () => [0.125, 0.25, 0.5]), labels: Array.from({ length: 60_000 }, () => 'cat') })
  t.ok(big.length > 256 * 1024)
  const res = await app.inject({ method: 'POST', url: FIT, headers: { 'content-type': 'application/json' }, payload: big })
  t.equal(res.statusCode, 413)
  t.equal(res.json().error.code, 'CALSERVE_PAYLOAD_TOO_LARGE')
  // The same set as ndjson is accepted: its limit is CALSERVE_FIT_BODY_LIMIT_BYTES.
  const lines = Array.from({ length: 18_000 }, (_, i) => JSON.stringify({ input: [0.123456789, 0.25, i % 2 ? 0.523456789 : -0.523456789], label: i % 4 })).join('\n')
  t.ok(lines.length > 256 * 1024)
  const ok = await app.inject({ method: 'POST', url: `${FIT}?dry_run=true`, headers: { 'content-type': 'application/x-ndjson' }, payload: lines })
  t.equal(ok.statusCode, 200, ok.body)
  const small = await app.inject({ method: 'POST', url: FIT, payload: { inputs: [[0, 1, 2], [1, 0, 2]], labels: ['cat', 'fish'], dry_run: true } })
  t.equal(small.statusCode, 200, 'a JSON set under the limit is still fitted')
})
