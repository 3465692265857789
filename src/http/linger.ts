// An answer sent before its request's body was read — a 401 or 403 from onRequest, a 413 by
// Content-Length, a shed 503 — closes the connection rather than reading the rest of a body of any
// size to keep it alive (a 500 MB PUT refused in 11 ms was read to its end). The close lingers, as
// nginx's lingering_close does: the answer goes out with a FIN, what the client still sends is
// read and dropped for at most LINGER_MS, then the socket is destroyed. Destroying it at once
// would send a reset that can make the client's TCP stack drop the answer before it is read.
import { Socket } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'

export const LINGER_MS = 2000

/** A request on a real connection whose body was not read to its end (app.inject's have no socket). */
const unread = (req: FastifyRequest): Socket | null => {
  const socket = req.raw.socket
  return !req.raw.complete && socket instanceof Socket && !socket.destroyed ? socket : null
}

/**
 * Closes the connection after an answer sent before its body was read, and after every answer
 * while `draining()` (one onSend hook for both: a hook costs per request).
 */
export function closeUnreadBodies(app: FastifyInstance, draining: () => boolean): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (draining() || unread(req)) reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onResponse', (req, _reply, done) => {
    const socket = unread(req)
    if (socket) {
      // Node ends the socket after a `connection: close` answer and destroys it once the FIN is
      // out (destroySoon); keep it open, discarding what arrives, until the client stops or the
      // linger ends.
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the very listener Node added
      socket.removeListener('finish', socket.destroy)
      // A reader that stopped early (a 413 counted mid-body) left the request paused, and a paused
      // socket sees neither the rest of the body nor the client's close: read and drop it.
      req.raw.resume()
      const timer = setTimeout(() => socket.destroy(), LINGER_MS)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    }
    done()
  })
}
