// The registry Service: the API on the configured port, and the plain-HTTP ops port for metrics.
import type { V1Service } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata, childNames, OPS_PORT, selectorLabels } from './names.ts';

export function buildService(registry: Registry): V1Service {
  const service = registry.spec.service ?? {};
  const type = service.type ?? 'ClusterIP';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(registry, childNames(registry.metadata.name).service),
    spec: {
      type,
      selector: selectorLabels(registry),
      ports: [
        {
          name: 'api',
          port: service.port ?? 443,
          targetPort: 'api',
          protocol: 'TCP',
          ...(type === 'NodePort' && service.nodePort ? { nodePort: service.nodePort } : {}),
        },
        { name: 'ops', port: OPS_PORT, targetPort: 'ops', protocol: 'TCP' },
      ],
    },
  };
}
