// Secrets of the operator-managed PKI: the Registry's CA key pair (never mounted into the pod), the CA
// certificate alone (what users trust, named in status.caSecretName) and the serving certificate.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { KeyPair } from '../certs/certificates.ts';
import { childNames } from './names.ts';
import { ownedSecret } from './secret.ts';

export function buildCaKeySecret(registry: Registry, ca: KeyPair): V1Secret {
  return ownedSecret(registry, childNames(registry.metadata.name).caKey, 'kubernetes.io/tls', { 'tls.crt': ca.certPem, 'tls.key': ca.keyPem });
}

export function buildCaCertSecret(registry: Registry, caPem: string): V1Secret {
  return ownedSecret(registry, childNames(registry.metadata.name).caCert, 'Opaque', { 'ca.crt': caPem });
}

/**
 * Set on a Registry (any new value, e.g. a timestamp) to have its self-signed serving certificate issued anew;
 * the running pods load it without a restart.
 */
export const RENEW_CERTIFICATE_ANNOTATION = 'regop.dev/renew-certificate';
/** on the serving Secret: the renewal request its certificate answers, so a request is served once */
export const RENEWED_FOR_ANNOTATION = 'regop.dev/renewed-for';

export function renewalRequestOf(object: { metadata?: { annotations?: Record<string, string> } } | null | undefined, annotation: string): string | undefined {
  return object?.metadata?.annotations?.[annotation] || undefined;
}

export function buildServingSecret(registry: Registry, serving: KeyPair, caPem: string, renewedFor?: string): V1Secret {
  const secret = ownedSecret(registry, childNames(registry.metadata.name).tls, 'kubernetes.io/tls', {
    'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca.crt': caPem,
  });
  if (renewedFor) secret.metadata!.annotations = { [RENEWED_FOR_ANNOTATION]: renewedFor };
  return secret;
}
