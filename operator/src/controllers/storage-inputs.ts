// What a Registry's storage is built from: the spec's storage and replica rules, and the bucket's credentials
// Secret. Links of the same policy chain as registry-inputs.ts: the first problem is an InputError, reported as
// Degraded before anything is applied, so a running registry keeps its last good configuration.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { s3CredentialKeys, storageProblem } from '../api/v1alpha1/storage.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError, secretValue } from './registry-inputs.ts';

export interface StorageInputs {
  /**
   * the bucket credentials, to be hashed into the pod template (the registry reads them at start, so a rotation
   * rolls the pods); never logged, never in status or events
   */
  s3Credentials?: { accessKeyId: string; secretAccessKey: string };
}

export async function resolveStorageInputs(client: ClusterClient, registry: Registry): Promise<StorageInputs> {
  const problem = storageProblem(registry);
  if (problem) throw new InputError(problem.reason, problem.message);
  const s3 = registry.spec.storage?.s3;
  if (!s3) return {};
  const name = s3.credentialsSecretRef.name;
  const where = `Secret ${name} (credentials of bucket ${s3.bucket})`;
  const secret = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace: registry.metadata.namespace, name });
  if (!secret) throw new InputError('S3CredentialsNotFound', `${where} not found`);
  const keys = s3CredentialKeys(s3);
  const accessKeyId = secretValue(secret, keys.accessKeyId);
  const secretAccessKey = secretValue(secret, keys.secretAccessKey);
  const missing = [[keys.accessKeyId, accessKeyId], [keys.secretAccessKey, secretAccessKey]].flatMap(([key, value]) => (value ? [] : [key]));
  if (missing.length > 0) {
    throw new InputError('S3CredentialsKeyMissing', `${where} has no key ${missing.join(' and no key ')} (or it is empty)`);
  }
  return { s3Credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! } };
}
