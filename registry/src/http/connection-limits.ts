// What one client can hold on the API listener: a connection slot (the listener takes at most maxConnections),
// and a request body that stops sending (cut after idleTimeoutMs without a byte). A legitimate push of a big
// layer takes as long as it takes, so there is no overall request timeout: only idleness is punished.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface ConnectionLimits {
  /** 0: no cap */
  maxConnections: number;
  /** 0: a stalled body is waited for forever */
  idleTimeoutMs: number;
}

/** During an attack every refused connection would log a line; one line a minute says enough. */
const DROP_LOG_INTERVAL_MS = 60_000;

export function applyConnectionLimits(app: FastifyInstance, limits: ConnectionLimits): void {
  if (limits.maxConnections > 0) {
    // net.Server closes a connection over the cap as soon as it is accepted, before any byte is read
    app.server.maxConnections = limits.maxConnections;
    let dropped = 0;
    let lastLog = 0;
    app.server.on('drop', () => {
      dropped++;
      const now = Date.now();
      if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
      app.log.warn({ maxConnections: limits.maxConnections, dropped }, 'connection limit reached; refusing new connections');
      lastLog = now;
      dropped = 0;
    });
  }
  if (limits.idleTimeoutMs > 0) {
    const idleMs = limits.idleTimeoutMs;
    app.addHook('onRequest', async (request, reply) => watchBodyIdle(request, reply, idleMs));
  }
}

/**
 * Arms the socket's idle timer (refreshed by every byte the parser takes) while the request body is arriving.
 * Once the body is complete the timer is disarmed: what follows is the server's own work, e.g. hashing a big
 * blob, which sends nothing for a while.
 */
function watchBodyIdle(request: FastifyRequest, reply: FastifyReply, idleMs: number): void {
  const raw = request.raw;
  if (raw.complete) return;
  const socket = raw.socket;
  const response = reply.raw;
  // Node emits 'timeout' on the response of the socket's current request; handling it means Node leaves the
  // socket alone, so the decision (cut, or stop watching) is taken here
  const onIdle = () => {
    if (raw.complete) {
      socket.setTimeout(0);
      return;
    }
    request.log.warn({ idleMs, bytesReceived: socket.bytesRead }, 'request body idle; connection closed');
    socket.destroy();
  };
  const disarm = () => {
    response.off('timeout', onIdle);
    // after the response Node sets its own keep-alive timer on the socket, which must stay
    if (!response.writableFinished) socket.setTimeout(0);
  };
  response.on('timeout', onIdle);
  raw.once('end', disarm);
  response.once('finish', () => response.off('timeout', onIdle));
  socket.setTimeout(idleMs);
}
