// An array whose elements a later decoder walks: checked here only for being an array. z.array(z.any())
// accepts the same bodies with the same issue, but runs a parse for every element and copies the
// array, which on a tensor of numbers is most of the schema's cost (the decoders in src/inputs/ walk
// the numbers anyway, once, with their own checks and messages). The issue is zod's own invalid_type,
// so its message ("Invalid input: expected array, received number") is unchanged, and the JSON
// Schema in the OpenAPI document is the same {"type": "array", "items": {}}.
import { z } from 'zod'

export function shallowArray(): z.ZodType<unknown[]> {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (!Array.isArray(value)) ctx.addIssue({ code: 'invalid_type', expected: 'array', input: value })
    })
    .meta({ type: 'array', items: {} }) as unknown as z.ZodType<unknown[]>
}
