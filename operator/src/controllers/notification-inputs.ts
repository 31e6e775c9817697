// The Secrets a Registry's webhooks take header values from: each must exist and hold its key before anything is
// applied, or the pods would wait forever on a projected volume that cannot be built. Links of the same policy
// chain as registry-inputs.ts: the first problem is an InputError, reported as Degraded.
import type { V1Secret } from '@kubernetes/client-node';
import { webhookSecretFiles } from '../api/v1alpha1/notifications.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError, secretValue } from './registry-inputs.ts';

export async function checkNotificationInputs(client: ClusterClient, registry: Registry): Promise<void> {
  for (const file of webhookSecretFiles(registry)) {
    const where = `Secret ${file.secret} (header ${file.header} of webhook ${file.endpoint})`;
    const secret = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace: registry.metadata.namespace, name: file.secret });
    if (!secret) throw new InputError('NotificationSecretNotFound', `${where} not found`);
    if (!secretValue(secret, file.key)) throw new InputError('NotificationSecretKeyMissing', `${where} has no key ${file.key} (or it is empty)`);
  }
}
