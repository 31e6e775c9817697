// Whether something accepts TCP connections on a port: a server a test started, or a NodePort whose forwarding
// rules kube-proxy programs a moment after the pods behind it became ready.
import { connect } from 'node:net';

/** true when a TCP connection to host:port opens (it is closed again at once) */
export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
