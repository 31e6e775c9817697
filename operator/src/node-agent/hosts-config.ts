// What the node agent writes for one Registry, as a pure decision: Registry + Service + CA in, the files of
// containerd's `<certsDir>/<host>/` out (or why not yet). containerd's hosts.toml (docs/hosts.md) maps the
// host of an image reference to the address it really pulls from: here the Service's ClusterIP, which every
// node reaches through kube-proxy, verified against the Registry's CA. The host is always the Service's
// cluster-DNS name (`<name>.<namespace>.svc`), never an Ingress host. The one exception is spec.mirrors: the
// hosts a Registry mirrors (docker.io) get a hosts.toml that tries this registry first, with the nodes' own
// pull-only credentials, and the upstream itself as `server`, so a mirror that does not answer never stops a
// pull. containerd then asks the mirror for `/v2/<repository>/...?ns=<mirrored host>`, which the registry serves
// from the mirror's prefix.
import type { V1Service } from '@kubernetes/client-node';
import { mirrorPrefix, mirrorsProblem, REGISTRY_HOST_PATTERN } from '../api/v1alpha1/mirrors.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { registryUrl, tlsEnabled } from '../resources/names.ts';

export const HOSTS_FILE = 'hosts.toml';
export const CA_FILE = 'ca.crt';
/** in a mirrored host's directory: the extra CA the upstream is verified with on the direct fallback */
export const UPSTREAM_CA_FILE = 'upstream-ca.crt';
/** every file the agent writes in a host directory */
export const AGENT_FILES = [HOSTS_FILE, CA_FILE, UPSTREAM_CA_FILE] as const;
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
  ca?: { pem?: string; upstreamCas?: Record<string, string> } | undefined;
  /** the nodes' pull-only user of the mirror prefixes, once the operator has published it */
  nodeCredentials?: { username: string; password: string } | undefined;
  /** containerd's hosts directory as the node sees it (absolute: hosts.toml names ca.crt by this path) */
  certsDir: string;
}

/** a mirrored host's files, or why it gets none (its directory, if written before, is left alone) */
export type MirrorPlan =
  | { host: string; files: Record<string, string> }
  | { host: string; reason: string; message: string };

export type NodeAccessPlan =
  | { action: 'write'; host: string; server: string; plainHttp: boolean; files: Record<string, string>; mirrors: MirrorPlan[] }
  /** the Registry opted out: its files go */
  | { action: 'remove'; reason: string; message: string }
  /** not yet: files already written stay (a rolling registry is not a dead one), none are written */
  | { action: 'wait'; reason: string; message: string };


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

export interface MirrorHostsInputs {
  owner: string;
  /** the mirrored host (docker.io) */
  host: string;
  upstream: string;
  /** the registry's Service address */
  mirror: string;
  mirrorCaPath: string | undefined;
  upstreamCaPath: string | undefined;
  authorization: string;
}

/**
 * A mirrored host: this registry as the one `[host]` entry, with the nodes' credentials in its `header` table
 * (sent only to that host, never to the upstream), and the upstream as `server`, which containerd tries when the
 * mirror fails (refused, timed out, or an error status).
 */
export function buildMirrorHostsToml(inputs: MirrorHostsInputs): string {
  const { owner, host, upstream, mirror } = inputs;
  const lines = [
    `${OWNER_MARKER} ${owner}`,
    `# Pulls of ${host} go to the mirror in Registry ${owner} first, and straight to ${upstream} when it does not answer.`,
    '# The agent rewrites this file when the mirror or its address change and removes it with the mirror.',
    `server = ${tomlString(upstream)}`,
    ...(inputs.upstreamCaPath ? [`ca = ${tomlString(inputs.upstreamCaPath)}`] : []),
    '',
    `[host.${tomlString(mirror)}]`,
    '  capabilities = ["pull", "resolve"]',
    ...(inputs.mirrorCaPath ? [`  ca = ${tomlString(inputs.mirrorCaPath)}`] : []),
    '',
    `[host.${tomlString(mirror)}.header]`,
    `  Authorization = [${tomlString(inputs.authorization)}]`,
  ];
  return `${lines.join('\n')}\n`;
}

function planMirrors(inputs: NodeAccessInputs, owner: string, server: string, caPem: string | undefined): MirrorPlan[] {
  const { registry, nodeCredentials, certsDir } = inputs;
  const mirrors = registry.spec.mirrors;
  if (!Array.isArray(mirrors) || mirrors.length === 0) return [];
  const problem = mirrorsProblem(registry);
  if (problem) return mirrors.map((m) => ({ host: String(m?.registry), reason: 'InvalidMirror', message: problem }));
  const dir = certsDir.replace(/\/+$/, '');
  return mirrors.map((mirror): MirrorPlan => {
    const host = mirror.registry;
    if (!nodeCredentials) {
      return { host, reason: 'WaitingForNodeCredentials', message: `waiting for the operator to publish the nodes' credentials of ${owner}` };
    }
    const upstreamCa = inputs.ca?.upstreamCas?.[mirrorPrefix(host)];
    if (mirror.ca && !upstreamCa) return { host, reason: 'WaitingForCA', message: `waiting for the operator to publish the upstream CA of mirror ${host}` };
    const files: Record<string, string> = {};
    if (caPem) files[CA_FILE] = caPem;
    if (upstreamCa) files[UPSTREAM_CA_FILE] = upstreamCa.endsWith('\n') ? upstreamCa : `${upstreamCa}\n`;
    const basic = Buffer.from(`${nodeCredentials.username}:${nodeCredentials.password}`).toString('base64');
    files[HOSTS_FILE] = buildMirrorHostsToml({
      owner,
      host,
      upstream: mirror.upstream.replace(/\/+$/, ''),
      mirror: server,
      mirrorCaPath: caPem ? `${dir}/${host}/${CA_FILE}` : undefined,
      upstreamCaPath: upstreamCa ? `${dir}/${host}/${UPSTREAM_CA_FILE}` : undefined,
      authorization: `Basic ${basic}`,
    });
    return { host, files };
  });
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
  if (!REGISTRY_HOST_PATTERN.test(host) || host.includes('..') || host.split(':')[0] !== expected) {
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
    const files = { [HOSTS_FILE]: buildHostsToml(owner, host, server, undefined) };
    return { action: 'write', host, server, plainHttp, files, mirrors: planMirrors(inputs, owner, server, undefined) };
  }
  if (!ca) return { action: 'wait', reason: 'WaitingForCA', message: `waiting for the operator to publish the CA of ${owner}` };
  const caPath = ca.pem ? `${certsDir.replace(/\/+$/, '')}/${host}/${CA_FILE}` : undefined;
  const files: Record<string, string> = {};
  if (ca.pem) files[CA_FILE] = ca.pem.endsWith('\n') ? ca.pem : `${ca.pem}\n`;
  files[HOSTS_FILE] = buildHostsToml(owner, host, server, caPath);
  return { action: 'write', host, server, plainHttp, files, mirrors: planMirrors(inputs, owner, server, files[CA_FILE]) };
}
