// The Prometheus text exposition read as families, for tests that check names and types.

export interface Family {
  name: string
  type: string
  samples: string[]
}

/** The families of a text exposition: # TYPE lines and the sample names under them. */
export function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>()
  let current: Family | undefined
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) {
      current = { name: type[1]!, type: type[2]!, samples: [] }
      out.set(current.name, current)
    } else if (line && !line.startsWith('#') && current) current.samples.push(/^[^{\s]+/.exec(line)![0])
  }
  return out
}
