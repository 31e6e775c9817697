// The serving certificate's IP addresses: the Service's ClusterIPs. Nodes' containerd pulls a Registry through
// its ClusterIP (the node agent's hosts.toml) and verifies the certificate for that address, so the address
// must be in it. The Service is created ahead of the first certificate when it is missing, so the very first
// certificate already holds its address (a reissue would reach the running pod only on the kubelet's next
// volume sync).
import type { V1Service } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { OPERATOR_MADE, type ClusterClient } from '../kube/cluster-client.ts';
import { childNames } from '../resources/names.ts';
import { buildService } from '../resources/service.ts';

export function clusterIpsOf(service: V1Service | null | undefined): string[] {
  const spec = service?.spec;
  const ips = spec?.clusterIPs?.length ? spec.clusterIPs : spec?.clusterIP ? [spec.clusterIP] : [];
  return ips.filter((ip) => ip && ip !== 'None');
}

export async function serviceAddresses(client: ClusterClient, registry: Registry): Promise<string[]> {
  const key = { apiVersion: 'v1', kind: 'Service', namespace: registry.metadata.namespace, name: childNames(registry.metadata.name).service };
  const service = await client.get<V1Service>(key, OPERATOR_MADE) ?? await client.apply(buildService(registry));
  return clusterIpsOf(service);
}
