// Whether something accepts TCP connections on a port: a server a test started, or a NodePort whose forwarding
// rules kube-proxy programs a moment after the pods behind it became ready; and waiting until it does.
import { connect } from 'node:net';

/** true when a TCP connection to host:port opens (it is closed again at once) */
export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until host:port accepts connections; fails at once when the process that should listen has exited, and
 * after `timeoutMs`. The error says only what happened: callers add the process's output.
 */
export async function waitUntilAccepting(
  host: string, port: number, options: { hasExited: () => boolean; timeoutMs?: number },
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (options.hasExited()) throw new Error('the server exited');
    if (await acceptsConnections(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs / 1000}s`);
}
