// The CLI's only way to write: straight to stdout and stderr (src/ never uses the console), and the
// errors that decide how the process ends.

export const out = (text: string): void => {
  process.stdout.write(text)
}
export const err = (text: string): void => {
  process.stderr.write(text)
}
export const outLine = (line = ''): void => out(`${line}\n`)
export const errLine = (line = ''): void => err(`${line}\n`)

// `calserve predict … | head` closes stdout early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw e
})

/** Ends the command with `calserve: message` on stderr and exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** A bad command line: the message, then the usage, exit code 2. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message, 2)
    this.name = 'UsageError'
  }
}

/** An error body {error: {code, message, details}} from the server: `calserve: CODE: message`. */
export class ApiError extends CliError {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(`${code}: ${message}`)
    this.name = 'ApiError'
  }
}
