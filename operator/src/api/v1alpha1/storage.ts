// Where a Registry stores and how many pods may run on it. The CRD's CEL rules state the same limits at apply
// time; the controller checks them again, so an object stored before a rule existed (or with the rules bypassed)
// gets a Degraded condition naming the problem instead of pods fighting over one volume.
import type { Registry, RegistryS3Storage, RegistrySpec } from './registry.ts';

/** the CRD's defaults, for objects that reach the controller without them */
export const DEFAULT_S3_CREDENTIAL_KEYS = { accessKeyId: 'accessKeyId', secretAccessKey: 'secretAccessKey' } as const;
export const DEFAULT_MIN_REPLICAS = 1;
export const DEFAULT_TARGET_CPU_UTILIZATION = 80;

/** the fields that describe a volume, which a bucket replaces */
const VOLUME_FIELDS = ['size', 'storageClassName', 'existingClaim', 'accessMode', 'reclaimPolicy'] as const;

export interface SpecProblem {
  reason: string;
  message: string;
}

/** several pods may use the storage at once: a bucket, or a ReadWriteMany volume */
export function sharedStorage(spec: RegistrySpec): boolean {
  return spec.storage?.s3 !== undefined || spec.storage?.accessMode === 'ReadWriteMany';
}

/** more than one pod may run at once: replicas above 1, or an autoscaler allowed to go above 1 */
export function severalReplicas(spec: RegistrySpec): boolean {
  return spec.autoscaling ? spec.autoscaling.maxReplicas > 1 : (spec.replicas ?? 1) > 1;
}

export function s3CredentialKeys(s3: RegistryS3Storage): { accessKeyId: string; secretAccessKey: string } {
  const ref = s3.credentialsSecretRef;
  return {
    accessKeyId: ref?.accessKeyIdKey ?? DEFAULT_S3_CREDENTIAL_KEYS.accessKeyId,
    secretAccessKey: ref?.secretAccessKeyKey ?? DEFAULT_S3_CREDENTIAL_KEYS.secretAccessKey,
  };
}

/** The first problem of spec.storage, spec.replicas and spec.autoscaling, or null. */
export function storageProblem(registry: Registry): SpecProblem | null {
  const spec = registry.spec;
  const storage = spec.storage ?? {};
  if (storage.s3) {
    const volumeFields = VOLUME_FIELDS.filter((field) => storage[field] !== undefined);
    if (volumeFields.length > 0) {
      return {
        reason: 'InvalidStorage',
        message: `storage.s3 stores in a bucket, so the volume fields ${volumeFields.map((f) => `storage.${f}`).join(', ')} do not apply: remove them`,
      };
    }
    if (!storage.s3.credentialsSecretRef?.name) {
      return { reason: 'InvalidStorage', message: 'storage.s3 needs credentialsSecretRef.name: a Secret with the access key id and secret' };
    }
  }
  const autoscaling = spec.autoscaling;
  if (autoscaling && (autoscaling.minReplicas ?? DEFAULT_MIN_REPLICAS) > autoscaling.maxReplicas) {
    return {
      reason: 'InvalidAutoscaling',
      message: `autoscaling.minReplicas (${autoscaling.minReplicas}) is above autoscaling.maxReplicas (${autoscaling.maxReplicas})`,
    };
  }
  if (severalReplicas(spec) && !sharedStorage(spec)) {
    const asked = autoscaling ? `autoscaling.maxReplicas ${autoscaling.maxReplicas}` : `replicas ${spec.replicas}`;
    return {
      reason: 'SharedStorageRequired',
      message: `${asked} needs storage several pods can use at once: storage.s3 (a bucket) or storage.accessMode ReadWriteMany; `
        + `pods cannot share a ReadWriteOnce volume`,
    };
  }
  return null;
}
