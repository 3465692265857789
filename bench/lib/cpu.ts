// One server core against one load-generator core: which CPUs each side is pinned to (taskset,
// from util-linux) and how much CPU a process has used (utime + stime from /proc/<pid>/stat).
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import os from 'node:os'

export interface Pinning {
  /** CPU list for taskset -c (e.g. "0"), or null where pinning is off or impossible. */
  server: string | null
  client: string | null
  /** Why pinning is off, for the results. */
  note: string | null
}

/** Server on `server`, load generator on `client`; off (with a note) where taskset or the CPUs are missing. */
export function choosePinning(server: string, client: string, enabled: boolean): Pinning {
  if (!enabled) return { server: null, client: null, note: 'pinning off (--no-pin): server and load generator share every core' }
  if (!hasTaskset()) return { server: null, client: null, note: 'taskset not found (apt-get install util-linux): not pinned' }
  const cores = os.cpus().length
  const max = (list: string) => Math.max(...list.split(/[,-]/).map(Number))
  if (max(server) >= cores || max(client) >= cores)
    return { server: null, client: null, note: `only ${cores} CPU(s): cannot pin the server to ${server} and the load generator to ${client}` }
  return { server, client, note: null }
}

let taskset: boolean | null = null
function hasTaskset(): boolean {
  if (taskset === null)
    try {
      execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' })
      taskset = true
    } catch {
      taskset = false
    }
  return taskset
}

/** The command and arguments that run `cmd args` on `cpus` (taskset execs, so the pid is the command's own). */
export function pinned(cpus: string | null, cmd: string, args: string[]): [string, string[]] {
  return cpus === null ? [cmd, args] : ['taskset', ['-c', cpus, cmd, ...args]]
}

const TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU seconds of a process (all its threads), or null if /proc can't tell. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (text === null) return null
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS_PER_S : null
}
