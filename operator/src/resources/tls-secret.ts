// Secrets of the operator-managed PKI: the Registry's CA key pair (never mounted into the pod), the CA
// certificate alone (what users trust, named in status.caSecretName) and the serving certificate.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { KeyPair } from '../certs/certificates.ts';
import { childMetadata, childNames } from './names.ts';

export function buildCaKeySecret(registry: Registry, ca: KeyPair): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(registry, childNames(registry.metadata.name).caKey),
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': ca.certPem, 'tls.key': ca.keyPem },
  };
}

export function buildCaCertSecret(registry: Registry, caPem: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(registry, childNames(registry.metadata.name).caCert),
    type: 'Opaque',
    stringData: { 'ca.crt': caPem },
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
