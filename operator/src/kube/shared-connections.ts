// client-node (2.0.1) builds a new undici Agent each time it authenticates a request, so every API request paid
// for a new TCP connection, a TLS handshake and a SecureContext (the CA and the client key parsed again): with 50
// Registries applied at once that was most of the operator's CPU. Here one Agent is kept for as long as the
// connection settings stay the same, so requests share its kept-alive connections, as client-go's transport cache
// does. New settings (a rotated client certificate) get a new Agent; the old one closes once its requests end.
import { createHash } from 'node:crypto';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';

interface Dispatcher {
  close(): Promise<void>;
}

/** the connection settings client-node hands its dispatcher factory */
interface AgentOptions {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}

/** the private factory this wraps; kube/shared-connections.test.ts fails if client-node renames or bypasses it */
interface DispatcherFactory {
  createDispatcher(cluster: Cluster | null, options: AgentOptions): Dispatcher | undefined;
}

function settingsKey(cluster: Cluster | null, options: AgentOptions): string {
  const hash = createHash('sha256');
  for (const value of [cluster?.server, cluster?.proxyUrl, cluster?.skipTLSVerify, options.ca, options.cert, options.key,
    options.pfx, options.passphrase, options.rejectUnauthorized, options.servername]) {
    hash.update(value === undefined ? '\0' : Buffer.isBuffer(value) ? value : JSON.stringify(value)).update('\0');
  }
  return hash.digest('hex');
}

/** Makes every request authenticated by `kubeConfig` share one connection pool; returns `kubeConfig`. */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  const factory = kubeConfig as unknown as DispatcherFactory;
  const create = factory.createDispatcher.bind(kubeConfig);
  let current: { key: string; dispatcher: Dispatcher | undefined } | undefined;
  factory.createDispatcher = (cluster, options) => {
    const key = settingsKey(cluster, options);
    if (current?.key !== key) {
      void current?.dispatcher?.close().catch(() => undefined);
      current = { key, dispatcher: create(cluster, options) };
    }
    return current.dispatcher;
  };
  return kubeConfig;
}
