// Names, labels and owner references of a Registry's children, in one place.
import type { V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, REGISTRY_KIND, type Registry } from '../api/v1alpha1/registry.ts';
import { REGISTRY_API_PORT, REGISTRY_OPS_PORT } from '../../../registry/src/contract/index.ts';

export const FIELD_MANAGER = 'regop-operator';
export const REGISTRY_LABEL = 'regop.dev/registry';
/** label on copies in other namespaces, which owner references cannot reach: `<namespace>.<name>` */
export const SOURCE_LABEL = 'regop.dev/source';
/** the registry container's ports, as the registry's contract has them */
export const API_PORT = REGISTRY_API_PORT;
export const OPS_PORT = REGISTRY_OPS_PORT;
/** the pull-only user behind copied pull Secrets; `_` cannot start a user name in the CRD, so no clash */
export const PULLER_USER = '_puller';
/** the pull-only user of mirror prefixes whose credentials the node agent writes into hosts.toml */
export const NODE_PULLER_USER = '_node';

export function childNames(registryName: string) {
  return {
    deployment: registryName,
    service: registryName,
    config: `${registryName}-config`,
    auth: `${registryName}-auth`,
    tls: `${registryName}-tls`,
    caKey: `${registryName}-ca-key`,
    /** the CA certificate alone, for users to trust; its key stays in caKey */
    caCert: `${registryName}-ca`,
    claim: `${registryName}-data`,
    puller: `${registryName}-puller`,
    /** the pull-only user nodes pull mirrored images as (node agent) */
    nodePuller: `${registryName}-node-puller`,
    /** the mirrors' upstream credentials and CAs as the registry reads them */
    mirrors: `${registryName}-mirrors`,
    /** bearer token of the registry's maintenance API, shared with RetentionPolicy Jobs */
    admin: `${registryName}-admin`,
    ingress: registryName,
    certificate: registryName,
    /** with several replicas */
    disruptionBudget: registryName,
    /** with spec.autoscaling */
    autoscaler: registryName,
    /** unless spec.networkPolicy.enabled is false */
    networkPolicy: registryName,
    /** in each pullSecret namespace: the dockerconfigjson Secret and the CA ConfigMap */
    pullSecret: `${registryName}-pull`,
    caBundle: `${registryName}-ca`,
    userSecret: (user: string) => `${registryName}-user-${user}`,
  };
}

/** on every object regop makes */
export const MANAGED_BY_LABELS = { 'app.kubernetes.io/managed-by': 'regop' } as const;
/** selects every object regop made (the informers watch only those) */
export const MANAGED_SELECTOR = Object.entries(MANAGED_BY_LABELS).map(([label, value]) => `${label}=${value}`).join(',');

export function commonLabels(registry: Registry): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'regop-registry',
    'app.kubernetes.io/instance': registry.metadata.name,
    ...MANAGED_BY_LABELS,
    [REGISTRY_LABEL]: registry.metadata.name,
  };
}

export function selectorLabels(registry: Registry): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'regop-registry',
    'app.kubernetes.io/instance': registry.metadata.name,
  };
}

export function sourceLabel(registry: Registry): string {
  return `${registry.metadata.namespace}.${registry.metadata.name}`;
}

export function ownerReference(registry: Registry): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: REGISTRY_KIND,
    name: registry.metadata.name,
    uid: registry.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function childMetadata(registry: Registry, name: string, owned = true) {
  return {
    name,
    namespace: registry.metadata.namespace,
    labels: commonLabels(registry),
    ...(owned ? { ownerReferences: [ownerReference(registry)] } : {}),
  };
}

/**
 * Names the serving certificate must hold: the Service's DNS names, the ingress host and any extra names, plus
 * localhost so that `kubectl port-forward` works with the same CA.
 */
export function serviceHostnames(registry: Registry): string[] {
  const { name, namespace } = registry.metadata;
  const names = [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`, 'localhost', '127.0.0.1'];
  if (registry.spec.ingress?.host) names.push(registry.spec.ingress.host);
  for (const extra of registry.spec.tls?.dnsNames ?? []) if (!names.includes(extra)) names.push(extra);
  return names;
}

export function tlsEnabled(registry: Registry): boolean {
  return (registry.spec.tls?.mode ?? 'SelfSigned') !== 'Disabled';
}

/** The address clients use: the ingress host when there is one, else the Service's cluster DNS name. */
export function registryUrl(registry: Registry): string {
  const scheme = tlsEnabled(registry) ? 'https' : 'http';
  if (registry.spec.ingress?.host) return `${scheme}://${registry.spec.ingress.host}`;
  const port = registry.spec.service?.port ?? 443;
  const host = `${registry.metadata.name}.${registry.metadata.namespace}.svc`;
  const defaultPort = scheme === 'https' ? 443 : 80;
  return `${scheme}://${host}${port === defaultPort ? '' : `:${port}`}`;
}

/** the web UI's address, or null when the Registry turns it off */
export function uiUrl(registry: Registry): string | null {
  return registry.spec.ui?.enabled === false ? null : `${registryUrl(registry)}/ui/`;
}

/**
 * The hosts a pull Secret holds credentials for: the Service's name, and for a NodePort Service the loopback
 * addresses a node's own container runtime pulls through (single-node clusters such as kind and the local one).
 */
export function pullSecretHosts(registry: Registry): string[] {
  const hosts = [registryHost(registry)];
  const service = registry.spec.service;
  if (service?.type === 'NodePort' && service.nodePort) hosts.push(`127.0.0.1:${service.nodePort}`, `localhost:${service.nodePort}`);
  return hosts;
}

/** host[:port] as registry clients want it (docker login, image references) */
export function registryHost(registry: Registry): string {
  return registryUrl(registry).replace(/^https?:\/\//, '');
}
