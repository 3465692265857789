// A small TCP proxy (node:net) that tests put between calserve and PostgreSQL to simulate an outage
// without touching the shared database server:
//   cut()       destroys every live connection and stops accepting (new connections are refused):
//               a database that stopped, or a connection reset;
//   blackhole() stops moving bytes, both ways, on every connection, live or new, without closing
//               anything: a silent network partition (nothing is lost: it stays in the buffers);
//   restore()   back to forwarding (listening again on the same port after a cut).
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** Whether it accepts connections now. */
  readonly up: boolean
  /** Destroys every live connection (both sides) and stops listening: clients see ECONNREFUSED. */
  cut(): Promise<void>
  /** Stops forwarding without closing anything: connections (and connection attempts) just stall. */
  blackhole(): void
  /** Forwards again: listens after a cut, resumes the stalled connections after a blackhole. */
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }, listenPort = 0): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = listenPort
  let up = false
  let stalled = false

  const listen = () =>
    new Promise<void>((res, rej) => {
      const srv = createServer((client) => {
        const upstream = connect(target.port, target.host)
        sockets.add(client)
        sockets.add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        // Plain forwarding (not pipe(), whose flow control could resume a socket paused here).
        client.on('data', (d) => upstream.write(d))
        upstream.on('data', (d) => client.write(d))
        if (stalled) (client.pause(), upstream.pause())
      })
      srv.once('error', rej)
      srv.listen(port, '127.0.0.1', () => {
        const addr = srv.address()
        if (addr && typeof addr !== 'string') port = addr.port
        server = srv
        up = true
        res()
      })
    })

  const cut = async () => {
    up = false
    const srv = server
    server = undefined
    const closed = srv ? new Promise<void>((res) => srv.close(() => res())) : Promise.resolve()
    // resetAndDestroy sends an RST where the runtime has it, like a database that vanished.
    for (const s of sockets) (s as Socket & { resetAndDestroy?: () => void }).resetAndDestroy?.() ?? s.destroy()
    sockets.clear()
    await closed
  }

  await listen()
  return {
    get port() {
      return port
    },
    get up() {
      return up
    },
    cut,
    blackhole: () => {
      stalled = true
      for (const s of sockets) s.pause()
    },
    restore: async () => {
      if (stalled) {
        stalled = false
        for (const s of sockets) s.resume()
      }
      if (!up) await listen()
    },
    close: cut,
  }
}
