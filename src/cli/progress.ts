// A progress bar on stderr: redrawn in place when stderr is a terminal; otherwise a plain line at
// each quarter, so logs of scripted runs stay short.
import { formatBytes } from './table.js'

export interface ProgressOptions {
  label: string
  unit: 'bytes' | 'items'
  total: number
  /** Default: process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number }
}

const BAR = 24
const REDRAW_MS = 80

export class Progress {
  private readonly stream: NonNullable<ProgressOptions['stream']>
  private readonly tty: boolean
  private readonly started = Date.now()
  private total: number
  private done = 0
  private lastDraw = 0
  private quarter = 0
  private finished = false

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr
    this.tty = this.stream.isTTY === true
    this.total = opts.total
  }

  update(done: number, total = this.total): void {
    if (this.finished) return
    this.done = done
    this.total = total
    if (this.tty) {
      const now = Date.now()
      if (now - this.lastDraw < REDRAW_MS) return
      this.lastDraw = now
      this.stream.write(`\r${this.render()}\x1b[K`)
    } else {
      const q = Math.floor(this.fraction() * 4)
      if (q > this.quarter && q < 4) {
        this.quarter = q
        this.stream.write(`${this.opts.label}: ${this.amount()}\n`)
      }
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.finished) return
    this.finished = true
    const secs = ((Date.now() - this.started) / 1000).toFixed(1)
    if (this.tty) this.stream.write(`\r${this.render()}  ${secs} s\x1b[K\n`)
    else this.stream.write(`${this.opts.label}: ${this.amount()}, ${secs} s\n`)
  }

  /** Clears a half-drawn bar (before an error message). */
  abort(): void {
    if (this.finished) return
    this.finished = true
    if (this.tty) this.stream.write('\r\x1b[K')
  }

  private fraction(): number {
    return this.total > 0 ? Math.min(1, this.done / this.total) : 0
  }

  private amount(): string {
    const f = (n: number) => (this.opts.unit === 'bytes' ? formatBytes(n) : String(n))
    return `${(this.fraction() * 100).toFixed(0)}% (${f(this.done)} of ${f(this.total)})`
  }

  render(): string {
    const filled = Math.round(this.fraction() * BAR)
    const bar = '█'.repeat(filled) + '░'.repeat(BAR - filled)
    const secs = (Date.now() - this.started) / 1000
    const rate = this.opts.unit === 'bytes' && secs > 0.2 ? `  ${formatBytes(Math.round(this.done / secs))}/s` : ''
    return `${this.opts.label} ${bar} ${this.amount()}${rate}`
  }
}
