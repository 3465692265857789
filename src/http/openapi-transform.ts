// How the route schemas become the OpenAPI document: fastify-type-provider-zod's transform, plus
// request bodies declared per content type, which it only handles for responses.
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
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

type Doc = ReturnType<typeof jsonSchemaTransformObject>

/**
 * fastify-type-provider-zod writes every registered schema twice, `X` for responses and `XInput`
 * for requests. Where the two are the same schema but for the `additionalProperties: false` zod
 * writes on every output object (no default or transform tells them apart), keep one, named `X`,
 * with the request's reading, and point every `XInput` reference at it, so Swagger UI shows each once.
 */
export function transformObject(input: Parameters<typeof jsonSchemaTransformObject>[0]): Doc {
  const doc = jsonSchemaTransformObject(input)
  const schemas = (doc as { components?: { schemas?: Record<string, unknown> } }).components?.schemas
  if (!schemas) return doc
  const merged = new Set<string>()
  const ref = (name: string) => `"$ref":"#/components/schemas/${name}"`
  const rename = (text: string) => [...merged].reduce((t, name) => t.split(ref(`${name}Input`)).join(ref(name)), text)
  // Merging one pair can make another pair equal (a schema that refers to it), so repeat until none is left.
  for (let changed = true; changed; ) {
    changed = false
    for (const name of Object.keys(schemas) as string[]) {
      const base: string | null = name.endsWith('Input') ? name.slice(0, -'Input'.length) : null
      if (!base || merged.has(base) || !(base in schemas)) continue
      const unify = (x: unknown) =>
        rename(JSON.stringify(x))
          .split(ref(`${base}Input`))
          .join(ref(base))
          .split(',"additionalProperties":false')
          .join('')
      if (unify(schemas[name]) !== unify(schemas[base])) continue
      schemas[base] = schemas[name]
      merged.add(base)
      changed = true
    }
  }
  for (const name of merged) delete schemas[`${name}Input`]
  return JSON.parse(rename(JSON.stringify(doc))) as Doc
}
