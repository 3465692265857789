// The HTTP server's connections, by what each is doing, for the drain (src/shutdown.ts).
//
// - When the listener closes, Node's server.close() destroys every connection it calls idle, and
//   that includes one accepted a moment ago whose first request is still on its way: predicts sent
//   20 ms before SIGTERM were reset. Here only keep-alive connections that have served a request
//   and wait for the next are closed then; a new connection keeps its chance to send its request
//   and get its answer (with `connection: close`). Go's net/http Server.Shutdown draws the same
//   line (a new connection counts as idle only after 5 s without its first request).
// - server.close() then waits for every connection, and a connection whose request has not fully
//   arrived (a client trickling its headers, a body still arriving after its request was refused)
//   never ends by itself: it held the close for the whole grace period, which then exited 1 and
//   reset the requests being answered. When the grace period ends the drain closes those
//   connections only (closeUnanswered): a request received whole and not yet answered keeps its
//   connection.
// - Before the listener closes, the connections waiting in its backlog are taken in (takeBacklog):
//   Node accepts one connection per turn of the event loop, so after the loop was busy several
//   connections the kernel had completed were reset with the listener, their requests already sent.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

interface Exchange {
  req: IncomingMessage
  res: ServerResponse
}

interface Connection {
  /** The exchanges on it whose answer has not been sent. */
  pending: Set<Exchange>
  /** Requests it has carried. */
  requests: number
}

export class Connections {
  private readonly open = new Map<Socket, Connection>()
  private accepted = 0

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.accepted++
      this.open.set(socket, { pending: new Set(), requests: 0 })
      socket.once('close', () => this.open.delete(socket))
    })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const connection = this.open.get(req.socket)
      if (!connection) return
      const exchange = { req, res }
      connection.pending.add(exchange)
      connection.requests++
      // 'close' follows 'finish', and also comes when the connection dies first.
      res.once('close', () => connection.pending.delete(exchange))
    })
    // server.close() calls this (and Fastify's close calls server.close()).
    server.closeIdleConnections = () => this.closeIdle()
  }

  /**
   * Turns the event loop until a turn accepts no connection (at most `maxTurns`): what the kernel
   * completed before the listener closes is served rather than reset. An immediate set from an
   * immediate runs after the next poll phase, where the accepting happens.
   */
  async takeBacklog(maxTurns = 1000): Promise<void> {
    const turn = () => new Promise((r) => setImmediate(r))
    for (let i = 0; i < maxTurns; i++) {
      const before = this.accepted
      await turn()
      await turn()
      if (this.accepted === before) return
    }
  }

  /** Destroys the keep-alive connections that served a request and wait for another. */
  closeIdle(): void {
    for (const [socket, { pending, requests }] of this.open) if (requests > 0 && pending.size === 0) socket.destroy()
  }

  /**
   * Destroys every connection that is not answering a request it received whole: idle ones, those
   * still receiving headers or a body, and those whose answer went out while the body still
   * arrives. Answers the number destroyed.
   */
  closeUnanswered(): number {
    let closed = 0
    for (const [socket, { pending }] of this.open) {
      const answering = [...pending].some(({ req, res }) => req.complete && !res.writableFinished)
      if (answering) continue
      socket.destroy()
      closed++
    }
    return closed
  }
}
