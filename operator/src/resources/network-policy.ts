// The NetworkPolicy of a Registry's pods (spec.networkPolicy, on by default). Ingress: the registry API from the
// peers in allowFrom (default: every pod in the cluster), the plain-HTTP metrics port only from the operator's
// namespace and the peers in metricsFrom (default: namespaces labelled for monitoring). Egress: DNS, and the
// ports of the configured upstreams, object storage and webhooks. Some sources are admitted whatever the lists say,
// because the registry stops working for the cluster without them: the nodes (kubelet and containerd pull
// through the Service from the host's address, and a NodePort arrives from it), the operator's namespace (the
// node agent probes the API, the operator reads the metrics) and regop's own Jobs beside the Registry (retention
// and backup call the maintenance API).
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { webhooks } from '../api/v1alpha1/notifications.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { API_PORT, MANAGED_BY_LABELS, OPS_PORT, childMetadata, childNames, selectorLabels } from './names.ts';

/** namespaces with this label may scrape every Registry's metrics port unless metricsFrom says otherwise */
export const MONITORING_NAMESPACE_LABEL = 'regop.dev/monitoring';
/** set on every namespace by the API server since Kubernetes 1.22: selects one namespace by name */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
const DNS_PORT = 53;

export interface NetworkPolicyInputs {
  /** where the operator and its node agent run */
  operatorNamespace: string;
  /** the nodes' addresses (InternalIP and ExternalIP), admitted to both ports */
  nodeAddresses: string[];
}

export function networkPolicyEnabled(registry: Registry): boolean {
  return registry.spec.networkPolicy?.enabled !== false;
}

/** null when spec.networkPolicy.enabled is false: the Registry's pods then accept and send anything */
export function buildNetworkPolicy(registry: Registry, inputs: NetworkPolicyInputs): V1NetworkPolicy | null {
  if (!networkPolicyEnabled(registry)) return null;
  const spec = registry.spec.networkPolicy ?? {};
  const nodes = [...new Set(inputs.nodeAddresses)].sort().map(hostBlock);
  const operator: V1NetworkPolicyPeer = { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: inputs.operatorNamespace } } };
  // a namespaceSelector-less podSelector means the policy's own namespace
  const ownJobs: V1NetworkPolicyPeer = { podSelector: { matchLabels: { ...MANAGED_BY_LABELS } } };
  const everyPod: V1NetworkPolicyPeer = { namespaceSelector: {} };
  const monitoring: V1NetworkPolicyPeer = { namespaceSelector: { matchLabels: { [MONITORING_NAMESPACE_LABEL]: 'true' } } };

  const restrictEgress = spec.restrictEgress !== false;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(registry, childNames(registry.metadata.name).networkPolicy),
    spec: {
      podSelector: { matchLabels: selectorLabels(registry) },
      policyTypes: restrictEgress ? ['Ingress', 'Egress'] : ['Ingress'],
      // client-node's model spells a rule's `from` as `_from` and writes it as `from`: other spellings are dropped
      ingress: [
        { ports: [tcp(API_PORT)], _from: [...(spec.allowFrom ?? [everyPod]), ...nodes, operator, ownJobs] },
        { ports: [tcp(OPS_PORT)], _from: [...(spec.metricsFrom ?? [monitoring]), ...nodes, operator] },
      ],
      ...(restrictEgress ? { egress: egressRules(registry) } : {}),
    },
  };
}

/**
 * DNS anywhere (a cluster's resolver may be CoreDNS, a node-local cache or the host's), then the upstreams', the
 * bucket's and the webhooks' ports to any address: a NetworkPolicy cannot name a host, and their addresses are not ours to
 * resolve once for all.
 */
function egressRules(registry: Registry) {
  const ports = new Set<number>();
  for (const mirror of registry.spec.mirrors ?? []) ports.add(urlPort(mirror.upstream));
  for (const endpoint of webhooks(registry)) ports.add(urlPort(endpoint.url));
  const s3 = registry.spec.storage?.s3;
  if (s3) ports.add(s3.endpoint ? urlPort(s3.endpoint) : 443);
  const rules: { ports: V1NetworkPolicyPort[] }[] = [{ ports: [{ protocol: 'UDP', port: DNS_PORT }, tcp(DNS_PORT)] }];
  if (ports.size > 0) rules.push({ ports: [...ports].sort((a, b) => a - b).map(tcp) });
  return rules;
}

function urlPort(url: string): number {
  const parsed = new URL(url);
  if (parsed.port) return Number(parsed.port);
  return parsed.protocol === 'http:' ? 80 : 443;
}

function tcp(port: number): V1NetworkPolicyPort {
  return { protocol: 'TCP', port };
}

function hostBlock(address: string): V1NetworkPolicyPeer {
  return { ipBlock: { cidr: address.includes(':') ? `${address}/128` : `${address}/32` } };
}
