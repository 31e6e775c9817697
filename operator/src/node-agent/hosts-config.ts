// What the node agent writes for one Registry, as a pure decision: Registry + Service + CA in, the files of
// containerd's `<certsDir>/<host>/` out (or why not yet). containerd's hosts.toml (docs/hosts.md) maps the
// host of an image reference to the address it really pulls from: here the Service's ClusterIP, which every
// node reaches through kube-proxy, verified against the Registry's CA. The host is always the Service's
// cluster-DNS name (`<name>.<namespace>.svc`), never an Ingress host or a spec value: a Registry must not
// be able to redirect another name (say docker.io) on every node.
import type { V1Service } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { registryUrl, tlsEnabled } from '../resources/names.ts';

export const HOSTS_FILE = 'hosts.toml';
export const CA_FILE = 'ca.crt';
/** first line of every hosts.toml the agent writes; what it checks before it rewrites or removes one */
export const OWNER_MARKER = '# written by regop-node-agent for Registry';

export interface NodeAccessInputs {
  registry: Registry;
  /** the Registry's Service, when it exists */
  service?: V1Service | undefined;
  /**
   * The Registry's published CA: undefined while the operator has not published it yet; `{}` when there is
   * none to publish (a Secret-mode certificate from a public CA).
   */
  ca?: { pem?: string } | undefined;
  /** containerd's hosts directory as the node sees it (absolute: hosts.toml names ca.crt by this path) */
  certsDir: string;
}

export type NodeAccessPlan =
  | { action: 'write'; host: string; server: string; plainHttp: boolean; files: Record<string, string> }
  /** the Registry opted out: its files go */
  | { action: 'remove'; reason: string; message: string }
  /** not yet: files already written stay (a rolling registry is not a dead one), none are written */
  | { action: 'wait'; reason: string; message: string };

/** `registry:port`-style host: a DNS name or IPv4 with an optional port; nothing that could leave certsDir */
const SAFE_HOST = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$/;

/** `namespace/name`: how reports and owner markers name a Registry */
export function registryKeyOf(registry: { metadata?: { namespace?: string; name?: string } }): string {
  return `${registry.metadata?.namespace ?? ''}/${registry.metadata?.name ?? ''}`;
}

export function nodeAccessEnabled(registry: Registry): boolean {
  return (registry.spec as { nodeAccess?: { enabled?: unknown } } | undefined)?.nodeAccess?.enabled !== false;
}

function isReady(registry: Registry): boolean {
  const conditions = registry.status?.conditions;
  return Array.isArray(conditions) && conditions.some((c) => c?.type === 'Ready' && c.status === 'True');
}

/** the Service's cluster-DNS host as image references name it: `name.namespace.svc[:port]` */
export function serviceHost(registry: Registry): string {
  const { ingress: _ingress, ...spec } = registry.spec;
  return new URL(registryUrl({ ...registry, spec })).host;
}

function apiPort(service: V1Service): number | undefined {
  const ports = service.spec?.ports ?? [];
  return (ports.find((p) => p.name === 'api') ?? ports[0])?.port;
}

function addressOf(ip: string, port: number, scheme: 'https' | 'http'): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const defaultPort = scheme === 'https' ? 443 : 80;
  return `${scheme}://${host}${port === defaultPort ? '' : `:${port}`}`;
}

function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * The address twice: as a `[host]` entry, which containerd 1.6 requires ("invalid `host` tree" without one),
 * and as `server`, the fallback containerd tries after the hosts (the default would be the unresolvable
 * `.svc` name, whose DNS error would then hide a plain "not found").
 */
export function buildHostsToml(owner: string, host: string, server: string, caPath: string | undefined): string {
  const settings = ['capabilities = ["pull", "resolve"]', ...(caPath ? [`ca = ${tomlString(caPath)}`] : [])];
  const lines = [
    `${OWNER_MARKER} ${owner}`,
    `# Pulls of ${host} go to the registry's Service address${caPath ? ', verified against its CA' : ''}.`,
    '# The agent rewrites this file when the address or the CA changes and removes it with the Registry.',
    `server = ${tomlString(server)}`,
    ...settings,
    '',
    `[host.${tomlString(server)}]`,
    ...settings.map((line) => `  ${line}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** the owner a hosts.toml names on its first line, or null when the agent did not write it */
export function ownerOf(hostsToml: string): string | null {
  const first = hostsToml.split('\n', 1)[0] ?? '';
  return first.startsWith(`${OWNER_MARKER} `) ? first.slice(OWNER_MARKER.length + 1).trim() : null;
}

export function planNodeAccess(inputs: NodeAccessInputs): NodeAccessPlan {
  const { registry, service, ca, certsDir } = inputs;
  if (!registry?.metadata?.name || !registry.metadata.namespace || typeof registry.spec !== 'object' || registry.spec === null) {
    return { action: 'wait', reason: 'InvalidRegistry', message: 'the Registry has no name, namespace or spec' };
  }
  if (!nodeAccessEnabled(registry)) {
    return { action: 'remove', reason: 'Disabled', message: 'spec.nodeAccess.enabled is false' };
  }
  if (!isReady(registry)) {
    // a node pointed at an address that does not answer yet waits on every pull attempt
    return { action: 'wait', reason: 'RegistryNotReady', message: 'waiting for the Registry to be Ready' };
  }
  let host: string;
  try {
    host = serviceHost(registry);
  } catch {
    return { action: 'wait', reason: 'InvalidRegistry', message: 'the Registry\'s name or service port do not make a host name' };
  }
  const expected = `${registry.metadata.name}.${registry.metadata.namespace}.svc`;
  if (!SAFE_HOST.test(host) || host.includes('..') || host.split(':')[0] !== expected) {
    return { action: 'wait', reason: 'InvalidRegistry', message: `${host} is not a host name the agent writes` };
  }
  const clusterIp = service?.spec?.clusterIP;
  const port = service ? apiPort(service) : undefined;
  if (!clusterIp || clusterIp === 'None' || !port) {
    return { action: 'wait', reason: 'ServiceHasNoClusterIP', message: `waiting for Service ${registry.metadata.name} to have a ClusterIP` };
  }
  const plainHttp = !tlsEnabled(registry);
  const server = addressOf(clusterIp, port, plainHttp ? 'http' : 'https');
  const owner = registryKeyOf(registry);
  if (plainHttp) {
    return { action: 'write', host, server, plainHttp, files: { [HOSTS_FILE]: buildHostsToml(owner, host, server, undefined) } };
  }
  if (!ca) return { action: 'wait', reason: 'WaitingForCA', message: `waiting for the operator to publish the CA of ${owner}` };
  const caPath = ca.pem ? `${certsDir.replace(/\/+$/, '')}/${host}/${CA_FILE}` : undefined;
  const files: Record<string, string> = {};
  if (ca.pem) files[CA_FILE] = ca.pem.endsWith('\n') ? ca.pem : `${ca.pem}\n`;
  files[HOSTS_FILE] = buildHostsToml(owner, host, server, caPath);
  return { action: 'write', host, server, plainHttp, files };
}
