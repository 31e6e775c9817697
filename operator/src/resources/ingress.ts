// Optional Ingress. TLS passes through to the registry's own certificate, which holds the ingress host; large
// layer uploads need the proxy's body limit lifted, which is controller-specific (nginx's annotation is set).
import type { V1Ingress } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata, childNames, tlsEnabled } from './names.ts';

export function buildIngress(registry: Registry, tlsSecretName: string | undefined): V1Ingress | null {
  const ingress = registry.spec.ingress;
  if (!ingress) return null;
  const names = childNames(registry.metadata.name);
  const metadata = childMetadata(registry, names.ingress);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      ...metadata,
      annotations: {
        'nginx.ingress.kubernetes.io/proxy-body-size': '0',
        ...(tlsEnabled(registry) ? { 'nginx.ingress.kubernetes.io/backend-protocol': 'HTTPS' } : {}),
      },
    },
    spec: {
      ...(ingress.className ? { ingressClassName: ingress.className } : {}),
      ...(tlsEnabled(registry) && tlsSecretName ? { tls: [{ hosts: [ingress.host], secretName: tlsSecretName }] } : {}),
      rules: [{
        host: ingress.host,
        http: {
          paths: [{
            path: '/',
            pathType: 'Prefix',
            backend: { service: { name: names.service, port: { name: 'api' } } },
          }],
        },
      }],
    },
  };
}
