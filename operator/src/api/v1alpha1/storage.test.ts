import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry, RegistrySpec } from './registry.ts';
import { s3CredentialKeys, severalReplicas, sharedStorage, storageProblem } from './storage.ts';

function registry(spec: RegistrySpec): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: 'apps' }, spec };
}

const s3 = { bucket: 'images', credentialsSecretRef: { name: 's3-login' } };

describe('spec.storage, spec.replicas and spec.autoscaling', () => {
  it('lets several pods share a bucket or a ReadWriteMany volume, and nothing else', () => {
    assert.equal(sharedStorage({ storage: { s3 } }), true);
    assert.equal(sharedStorage({ storage: { accessMode: 'ReadWriteMany' } }), true);
    assert.equal(sharedStorage({ storage: { accessMode: 'ReadWriteOnce' } }), false);
    assert.equal(sharedStorage({}), false);
    assert.equal(severalReplicas({ replicas: 2 }), true);
    assert.equal(severalReplicas({ replicas: 5, autoscaling: { maxReplicas: 1 } }), false, 'the autoscaler decides, not replicas');
    assert.equal(severalReplicas({ autoscaling: { maxReplicas: 3 } }), true);
  });

  it('accepts sound combinations', () => {
    for (const spec of [{}, { replicas: 3, storage: { s3 } }, { replicas: 2, storage: { accessMode: 'ReadWriteMany' as const } },
      { autoscaling: { minReplicas: 2, maxReplicas: 5 }, storage: { s3 } }, { replicas: 1, storage: { size: '5Gi' } }]) {
      assert.equal(storageProblem(registry(spec)), null, JSON.stringify(spec));
    }
  });

  it('names what is wrong, with a reason for the Degraded condition', () => {
    const cases: Array<[RegistrySpec, string, RegExp]> = [
      [{ storage: { s3, size: '10Gi', accessMode: 'ReadWriteMany' } }, 'InvalidStorage', /storage\.size, storage\.accessMode do not apply: remove them/],
      [{ storage: { s3: { bucket: 'images' } as never } }, 'InvalidStorage', /needs credentialsSecretRef\.name/],
      [{ replicas: 3 }, 'SharedStorageRequired', /replicas 3 needs storage several pods can use at once: storage\.s3 .* or storage\.accessMode ReadWriteMany/],
      [{ autoscaling: { maxReplicas: 4 }, storage: { accessMode: 'ReadWriteOnce' } }, 'SharedStorageRequired', /autoscaling\.maxReplicas 4 needs/],
      [{ autoscaling: { minReplicas: 5, maxReplicas: 3 }, storage: { s3 } }, 'InvalidAutoscaling', /minReplicas \(5\) is above autoscaling\.maxReplicas \(3\)/],
    ];
    for (const [spec, reason, message] of cases) {
      const problem = storageProblem(registry(spec));
      assert.equal(problem?.reason, reason, JSON.stringify(spec));
      assert.match(problem!.message, message);
    }
  });

  it('reads the credentials from the keys named, accessKeyId and secretAccessKey by default', () => {
    assert.deepEqual(s3CredentialKeys(s3), { accessKeyId: 'accessKeyId', secretAccessKey: 'secretAccessKey' });
    assert.deepEqual(s3CredentialKeys({ ...s3, credentialsSecretRef: { name: 'x', accessKeyIdKey: 'id', secretAccessKeyKey: 'key' } }), { accessKeyId: 'id', secretAccessKey: 'key' });
  });
});
