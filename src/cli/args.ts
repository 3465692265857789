// Command-line parsing on node:util parseArgs: the options every client command shares, and
// parsing errors turned into usage errors (exit code 2).
import { parseArgs } from 'node:util'
import { UsageError } from './output.js'

/** One subcommand: `calserve <name> …`. */
export interface Command {
  name: string
  summary: string
  usage: string
  run(argv: string[]): Promise<void>
}

export const HELP = { help: { type: 'boolean', short: 'h' } } as const

/** --url, --token and --json: what every command that talks to a server takes. */
export const CLIENT = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const

export const CLIENT_USAGE = `  --url URL          server address (default: $CALSERVE_URL or http://127.0.0.1:8080)
  --token TOKEN      sent as "Authorization: Bearer TOKEN" (default: $CALSERVE_TOKEN)
  --json             print the server's JSON answer instead of a table
  -h, --help         show this help`

/** Runs parseArgs and turns what it throws into a UsageError carrying the command's usage. */
export function parseOrUsage<T>(usage: string, parse: () => T): T {
  try {
    return parse()
  } catch (e) {
    if (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')) {
      // Node's messages go on to explain `--`; the first sentence says what is wrong.
      throw new UsageError(e.message.split(/\.\s/)[0]!.replace(/\.$/, ''), usage)
    }
    throw e
  }
}

export { parseArgs }

/** An integer option, or undefined when absent. */
export function intOption(value: string | undefined, name: string, usage: string, min = 0): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, not '${value}'`, usage)
  return n
}

/** A string option restricted to a set of choices, or undefined when absent. */
export function choiceOption<C extends string>(value: string | undefined, name: string, choices: readonly C[], usage: string): C | undefined {
  if (value === undefined) return undefined
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not '${value}'`, usage)
  return value as C
}

/** A required string option. */
export function required(value: string | undefined, name: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`, usage)
  return value
}
