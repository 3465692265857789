// A 415 says which body types the route takes (issue 18, item 15), in the message and in
// details.accepted, so a client can correct itself without reading the docs.
import t from 'tap'
import { build } from '../helper.js'
import { errorOf } from './expected.js'

t.test('BAD CALL - a body type the route does not take: 415 naming the ones it does', async (t) => {
  const app = await build(t)
  const cases = [
    {
      url: '/v1/models/tiny/predict',
      accepted: ['application/json', 'application/octet-stream', 'image/png', 'image/jpeg', 'image/webp', 'multipart/form-data'],
    },
    {
      url: '/v1/models/tiny/calibration/fit',
      accepted: [
        'application/json',
        'application/x-ndjson',
        'application/octet-stream',
        'multipart/form-data',
        'application/x-tar',
        'application/gzip',
        'application/x-gzip',
      ],
    },
    { url: '/v1/models/tiny/calibration/rollback', accepted: ['application/json'] },
  ]
  for (const { url, accepted } of cases) {
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'text/csv' }, payload: '1,2,3' })
    const err = errorOf(t, res, 415, 'CALSERVE_UNSUPPORTED_MEDIA_TYPE', url)
    t.same(err.details?.accepted, accepted, `${url}: details.accepted`)
    t.match(err.message, `send ${accepted.join(' or ')}`, `${url}: ${err.message}`)
  }
})
