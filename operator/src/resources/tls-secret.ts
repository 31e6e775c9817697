// Secrets of the operator-managed PKI: the Registry's CA (kept apart: its key never enters the pod) and the
// serving certificate with the CA bundle beside it.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { KeyPair } from '../certs/certificates.ts';
import { childMetadata, childNames } from './names.ts';

export function buildCaSecret(registry: Registry, ca: KeyPair): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(registry, childNames(registry.metadata.name).ca),
    type: 'Opaque',
    stringData: { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem },
  };
}

export function buildServingSecret(registry: Registry, serving: KeyPair, caPem: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(registry, childNames(registry.metadata.name).tls),
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca.crt': caPem },
  };
}
