// The committed OpenAPI document must be exactly what the routes produce, and valid OpenAPI.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import t from 'tap'
import { generateOpenApi } from '../../src/http/openapi.js'

const committedPath = resolve(import.meta.dirname, '../../openapi/openapi.json')

t.test('openapi/openapi.json matches the routes (run `npm run openapi` after changing a schema)', async (t) => {
  const generated = await generateOpenApi()
  const committed = JSON.parse(readFileSync(committedPath, 'utf8')) as unknown
  t.same(committed, generated)
})

t.test('the document validates as OpenAPI 3', async (t) => {
  const validator = new Validator()
  const result = await validator.validate(JSON.parse(readFileSync(committedPath, 'utf8')))
  t.ok(result.valid, JSON.stringify(result.errors ?? null).slice(0, 2000))
  t.equal(validator.version, '3.0')
})

t.test('every v1 route is documented with its error body', async (t) => {
  const doc = JSON.parse(readFileSync(committedPath, 'utf8')) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
    components: { schemas: Record<string, unknown> }
  }
  for (const path of [
    '/v1/models',
    '/v1/models/{name}',
    '/v1/models/{name}/predict',
    '/v1/models/{name}/calibration',
    '/v1/models/{name}/calibration/history',
    '/v1/models/{name}/calibration/rollback',
    '/v1/models/{name}/calibration/fit',
    '/v1/jobs/{id}',
    '/health/ready',
    '/metrics',
  ])
    t.ok(doc.paths[path], `${path} is documented`)
  t.ok(doc.paths['/v1/models/{name}/predict']!.post!.responses['400'], 'predict documents its 400')
  for (const id of ['Error', 'ModelInfo', 'PredictRequest', 'PredictResponse', 'CalibrationRecord', 'FitResponse'])
    t.ok(doc.components.schemas[id], `${id} is a component`)
})
