// `calserve openapi [--out FILE]`: the OpenAPI document generated from the route schemas.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { HELP, parseArgs, parseOrUsage, type Command } from './args.js'
import { CliError, errLine, out } from './output.js'

const usage = `usage: calserve openapi [--out FILE]

Prints the OpenAPI document of the calserve API (JSON), or writes it to FILE.
  --out FILE   write to FILE instead of stdout (\`npm run openapi\` writes openapi/openapi.json)
  -h, --help   show this help
`

/** The document as the repository stores it: 2-space JSON and a final newline. */
export async function openApiText(): Promise<string> {
  const { generateOpenApi } = await import('../http/openapi.js')
  return `${JSON.stringify(await generateOpenApi(), null, 2)}\n`
}

export const openapi: Command = {
  name: 'openapi',
  summary: 'print or write the OpenAPI document',
  usage,
  async run(argv) {
    const { values } = parseOrUsage(usage, () =>
      parseArgs({ args: argv, options: { ...HELP, out: { type: 'string', short: 'o' } }, strict: true, allowPositionals: false }),
    )
    if (values.help) return out(usage)
    const text = await openApiText()
    if (values.out === undefined || values.out === '-') return out(text)
    try {
      await mkdir(dirname(values.out), { recursive: true })
      await writeFile(values.out, text)
    } catch (e) {
      throw new CliError(`cannot write ${values.out}: ${(e as Error).message}`)
    }
    errLine(`wrote ${values.out}`)
  },
}
