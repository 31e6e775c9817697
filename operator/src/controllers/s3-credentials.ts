// A bucket's credentials Secret, as the registry's storage and its backups both reference one: it must exist and
// hold both keys (the names spec.*.s3.credentialsSecretRef gives, or the defaults) before anything is applied. A
// problem is an InputError (Degraded), with the reasons the caller names; the values are never in a message.
import type { V1Secret } from '@kubernetes/client-node';
import { s3CredentialKeys } from '../api/v1alpha1/storage.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError, secretValue } from './registry-inputs.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3CredentialsUse {
  /** how a message names the bucket: "bucket", "backup bucket" */
  bucket: string;
  /** Degraded reasons when the Secret is missing, and when a key is missing or empty */
  reasons: { notFound: string; keyMissing: string };
}

export async function requireS3Credentials(
  client: ClusterClient, namespace: string, s3: Parameters<typeof s3CredentialKeys>[0], use: S3CredentialsUse,
): Promise<S3Credentials> {
  const name = s3.credentialsSecretRef.name;
  const where = `Secret ${name} (credentials of ${use.bucket} ${s3.bucket})`;
  const secret = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace, name });
  if (!secret) throw new InputError(use.reasons.notFound, `${where} not found`);
  const keys = s3CredentialKeys(s3);
  const accessKeyId = secretValue(secret, keys.accessKeyId);
  const secretAccessKey = secretValue(secret, keys.secretAccessKey);
  const missing = [[keys.accessKeyId, accessKeyId], [keys.secretAccessKey, secretAccessKey]].flatMap(([key, value]) => (value ? [] : [key]));
  if (missing.length > 0) throw new InputError(use.reasons.keyMissing, `${where} has no key ${missing.join(' and no key ')} (or it is empty)`);
  return { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! };
}
