// Rules of spec.mirrors that the CRD's schema cannot express (it checks each field's shape and that no host is
// listed twice): what the registry's config and the nodes' hosts.toml are derived from, and the checks that
// would otherwise only fail inside the registry pod or on the nodes.
import { mirrorNameOfHost } from '../../../../registry/src/mirror/names.ts';
import type { Registry, RegistryMirror } from './registry.ts';

/** a registry host the node agent may write a directory for: a DNS name or IPv4 with an optional port; nothing that could leave certs.d */
export const REGISTRY_HOST_PATTERN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$/;
const QUANTITY = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|K|k|M|G|T|P)?$/;
const DURATION = /^\d+(\.\d+)?(ms|s|m|h|d)$/;
const UNIT: Record<string, number> = {
  '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, K: 1e3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
};

/**
 * The repository prefix a mirror is served under in the registry (':' becomes '-'): the registry's own rule,
 * by which it also maps containerd's `?ns=<host>` to the prefix.
 */
export const mirrorPrefix = mirrorNameOfHost;

/** a Kubernetes quantity (10Gi, 500M, 1073741824) in bytes; NaN when it is not one */
export function quantityBytes(quantity: string): number {
  const match = QUANTITY.exec(quantity);
  return match ? Math.floor(Number(match[1]) * UNIT[match[2] ?? '']!) : NaN;
}

function mirrorProblem(mirror: RegistryMirror, ownHost: string): string | null {
  // the node agent reads Registries as stored, which a hand edit of the CRD could leave malformed
  if (typeof mirror?.registry !== 'string' || typeof mirror.upstream !== 'string') return 'each mirror needs registry and upstream';
  const where = `mirror ${mirror.registry}`;
  if (!REGISTRY_HOST_PATTERN.test(mirror.registry) || mirror.registry.includes('..')) {
    return `${where}: registry must be a lower-case host name or IPv4 address with an optional port`;
  }
  const hostname = mirror.registry.split(':')[0]!;
  // a Registry must not take over another Registry's name on the nodes
  if (hostname === ownHost || hostname.endsWith('.svc') || hostname.endsWith('.svc.cluster.local')) {
    return `${where}: a cluster Service name cannot be mirrored`;
  }
  let url: URL;
  try {
    url = new URL(mirror.upstream);
  } catch {
    return `${where}: upstream ${JSON.stringify(mirror.upstream)} is not a URL`;
  }
  if (url.protocol !== 'https:') return `${where}: upstream must be an https:// URL`;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
    return `${where}: upstream must be https://host[:port], without path, query or credentials (use credentialsSecretRef)`;
  }
  if (mirror.tagTTL !== undefined && !DURATION.test(mirror.tagTTL)) return `${where}: tagTTL must be a duration such as 5m`;
  if (mirror.maxSize !== undefined && !(quantityBytes(mirror.maxSize) > 0)) return `${where}: maxSize must be a positive quantity such as 10Gi`;
  const ca = mirror.ca;
  if (ca && Number(Boolean(ca.configMapKeyRef)) + Number(Boolean(ca.secretKeyRef)) !== 1) {
    return `${where}: ca needs exactly one of configMapKeyRef and secretKeyRef`;
  }
  return null;
}

/** The first problem of spec.mirrors, or null. */
export function mirrorsProblem(registry: Registry): string | null {
  const ownHost = `${registry.metadata.name}.${registry.metadata.namespace}.svc`;
  const prefixes = new Map<string, string>();
  const mirrors = registry.spec.mirrors ?? [];
  if (!Array.isArray(mirrors)) return 'mirrors must be a list';
  for (const mirror of mirrors) {
    const problem = mirrorProblem(mirror, ownHost);
    if (problem) return problem;
    const prefix = mirrorPrefix(mirror.registry);
    const other = prefixes.get(prefix);
    if (other !== undefined) return `mirrors ${other} and ${mirror.registry} would share the repository prefix ${prefix}`;
    prefixes.set(prefix, mirror.registry);
  }
  return null;
}
