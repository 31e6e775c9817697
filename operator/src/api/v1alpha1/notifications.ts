// Where a Registry's webhook header Secrets appear in its pods. One projected volume holds every header value
// taken from a Secret, each key as a file named after its endpoint and header position: names users choose (an
// endpoint's, a header's) are not file names, positions are.
import type { Registry, RegistryWebhook } from './registry.ts';

export function webhooks(registry: Registry): RegistryWebhook[] {
  return registry.spec.notifications?.endpoints ?? [];
}

/** the file (under the notifications mount) holding header `headerIndex` of endpoint `endpointIndex`'s headersFrom */
export function webhookHeaderFile(endpointIndex: number, headerIndex: number): string {
  return `endpoint-${endpointIndex}-header-${headerIndex}`;
}

/** every Secret key a Registry's webhooks read, with the file it becomes */
export function webhookSecretFiles(registry: Registry): { secret: string; key: string; file: string; endpoint: string; header: string }[] {
  return webhooks(registry).flatMap((endpoint, endpointIndex) => (endpoint.headersFrom ?? []).map((header, headerIndex) => ({
    secret: header.secretKeyRef.name,
    key: header.secretKeyRef.key,
    file: webhookHeaderFile(endpointIndex, headerIndex),
    endpoint: endpoint.name,
    header: header.name,
  })));
}
