// What a Registry's storage is built from: the spec's storage and replica rules, and the bucket's credentials
// Secret. Links of the same policy chain as registry-inputs.ts: the first problem is an InputError, reported as
// Degraded before anything is applied, so a running registry keeps its last good configuration.
import type { Registry } from '../api/v1alpha1/registry.ts';
import { storageProblem } from '../api/v1alpha1/storage.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError } from './registry-inputs.ts';
import { requireS3Credentials, type S3Credentials } from './s3-credentials.ts';

export interface StorageInputs {
  /**
   * the bucket credentials, to be hashed into the pod template (the registry reads them at start, so a rotation
   * rolls the pods); never logged, never in status or events
   */
  s3Credentials?: S3Credentials;
}

export async function resolveStorageInputs(client: ClusterClient, registry: Registry): Promise<StorageInputs> {
  const problem = storageProblem(registry);
  if (problem) throw new InputError(problem.reason, problem.message);
  const s3 = registry.spec.storage?.s3;
  if (!s3) return {};
  const s3Credentials = await requireS3Credentials(client, registry.metadata.namespace, s3, {
    bucket: 'bucket', reasons: { notFound: 'S3CredentialsNotFound', keyMissing: 'S3CredentialsKeyMissing' },
  });
  return { s3Credentials };
}
