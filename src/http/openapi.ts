// The OpenAPI document: generated from the route schemas, written to openapi/openapi.json by
// `npm run openapi`, and compared with that file by a test so the two can't drift apart.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { loadConfig } from '../config.js'

type TransformInput = Parameters<typeof jsonSchemaTransform>[0]

/**
 * jsonSchemaTransform, plus request bodies declared per content type ({content: {type: {schema}}}),
 * which fastify-type-provider-zod only handles for responses.
 */
export function transform(doc: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const body = (doc.schema as { body?: unknown } | undefined)?.body
  if (!isPerContentType(body)) return jsonSchemaTransform(doc)
  const { schema, url } = jsonSchemaTransform({ ...doc, schema: { ...doc.schema, body: undefined } } as TransformInput)
  const content = Object.fromEntries(
    Object.entries(body.content).map(([type, { schema: s }]) => [
      type,
      { schema: z.toJSONSchema(s, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) },
    ]),
  )
  return { schema: { ...schema, body: { content } }, url } as ReturnType<typeof jsonSchemaTransform>
}

function isPerContentType(body: unknown): body is { content: Record<string, { schema: z.ZodType }> } {
  return typeof body === 'object' && body !== null && 'content' in body && !(body instanceof z.ZodType)
}

/** Builds an app with no models on an in-memory store and returns its document. */
export async function generateOpenApi(): Promise<unknown> {
  const { buildApp } = await import('../app.js')
  const empty = mkdtempSync(join(tmpdir(), 'calserve-openapi-'))
  try {
    const app = await buildApp(
      loadConfig({ CALSERVE_MODEL_REPOSITORY: empty, CALSERVE_STORE_URL: 'sqlite::memory:', CALSERVE_LOG_LEVEL: 'silent' }),
    )
    await app.ready()
    const doc = app.swagger()
    await app.close()
    return doc
  } finally {
    rmSync(empty, { recursive: true, force: true })
  }
}
