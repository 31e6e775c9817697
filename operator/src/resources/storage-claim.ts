// The registry's PersistentVolumeClaim. With reclaimPolicy Retain it carries no owner reference, so deleting
// the Registry leaves the data; with Delete it is owned and garbage-collected with the Registry. A Registry that
// stores in a bucket has none.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata, childNames } from './names.ts';

export function claimName(registry: Registry): string {
  return registry.spec.storage?.existingClaim ?? childNames(registry.metadata.name).claim;
}

/** null when the Registry uses an existing claim or a bucket */
export function buildClaim(registry: Registry): V1PersistentVolumeClaim | null {
  const storage = registry.spec.storage ?? {};
  if (storage.existingClaim || storage.s3) return null;
  const owned = (storage.reclaimPolicy ?? 'Retain') === 'Delete';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: childMetadata(registry, childNames(registry.metadata.name).claim, owned),
    spec: {
      accessModes: [storage.accessMode ?? 'ReadWriteOnce'],
      resources: { requests: { storage: storage.size ?? '10Gi' } },
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
    },
  };
}
