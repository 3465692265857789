// For the hot routes: serialise responses through their schemas with fast-json-stringify (compiled
// once per route and status from the zod schema's JSON Schema), about ten times faster than
// validating each response with zod and then calling JSON.stringify. The zod schemas stay the one
// source of truth; routes that are not hot keep the validating zod serializer.
import fastJson from 'fast-json-stringify'
import { z } from 'zod'

// Typed loosely on purpose: Fastify types a route's serializerCompiler by that route's schema.
export const fastSerializerCompiler = ({ schema }: { schema: unknown }): ((data: unknown) => string) => {
  const json = z.toJSONSchema(schema as z.ZodType, { target: 'draft-7', io: 'output', unrepresentable: 'any' })
  return fastJson(json as Parameters<typeof fastJson>[0])
}
