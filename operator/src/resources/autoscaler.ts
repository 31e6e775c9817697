// The HorizontalPodAutoscaler of spec.autoscaling: it scales the registry Deployment on CPU utilization between
// minReplicas and maxReplicas. The Deployment then carries no replica count of the operator's (deployment.ts).
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { DEFAULT_MIN_REPLICAS, DEFAULT_TARGET_CPU_UTILIZATION } from '../api/v1alpha1/storage.ts';
import { childMetadata, childNames } from './names.ts';

/** null without spec.autoscaling */
export function buildAutoscaler(registry: Registry): V2HorizontalPodAutoscaler | null {
  const autoscaling = registry.spec.autoscaling;
  if (!autoscaling) return null;
  const names = childNames(registry.metadata.name);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMetadata(registry, names.autoscaler),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: names.deployment },
      minReplicas: autoscaling.minReplicas ?? DEFAULT_MIN_REPLICAS,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [{
        type: 'Resource',
        resource: {
          name: 'cpu',
          target: { type: 'Utilization', averageUtilization: autoscaling.targetCPUUtilizationPercentage ?? DEFAULT_TARGET_CPU_UTILIZATION },
        },
      }],
    },
  };
}
