// How the route schemas become the OpenAPI document: fastify-type-provider-zod's transform, plus
// request bodies declared per content type, which it only handles for responses.
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import { z } from 'zod'

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
