// The PodDisruptionBudget of a Registry with several replicas: voluntary evictions (node drains, cluster
// upgrades) take one registry pod at a time. maxUnavailable rather than minAvailable, so it holds for whatever
// count an autoscaler picks.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { severalReplicas } from '../api/v1alpha1/storage.ts';
import { childMetadata, childNames, selectorLabels } from './names.ts';

/** null when at most one pod runs: a budget of one pod would only block drains */
export function buildDisruptionBudget(registry: Registry): V1PodDisruptionBudget | null {
  if (!severalReplicas(registry.spec)) return null;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(registry, childNames(registry.metadata.name).disruptionBudget),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(registry) },
      // a pod that is not ready serves nothing: evicting it never costs capacity, and must not block a drain
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
