// For tls.mode CertManager: a cert-manager Certificate whose Secret the registry mounts.
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata, childNames, serviceHostnames } from './names.ts';

export interface CertManagerCertificate {
  apiVersion: 'cert-manager.io/v1';
  kind: 'Certificate';
  metadata: ReturnType<typeof childMetadata>;
  spec: Record<string, unknown>;
}

export function buildCertificate(registry: Registry): CertManagerCertificate | null {
  const tls = registry.spec.tls;
  if (tls?.mode !== 'CertManager' || !tls.issuerRef) return null;
  const names = childNames(registry.metadata.name);
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: childMetadata(registry, names.certificate),
    spec: {
      secretName: names.tls,
      dnsNames: serviceHostnames(registry),
      issuerRef: { name: tls.issuerRef.name, kind: tls.issuerRef.kind ?? 'Issuer', group: tls.issuerRef.group ?? 'cert-manager.io' },
      privateKey: { rotationPolicy: 'Always' },
    },
  };
}
