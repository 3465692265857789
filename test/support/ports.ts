// A free TCP port for a child process that must be told its port up front (the servers the e2e
// tests and the benchmarks start).
import { createServer } from 'node:net'

/** A loopback TCP port that was free a moment ago: bind port 0, read it, close. Free unless something grabs it in between. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'))
      srv.close(() => resolve(addr.port))
    })
  })
}
