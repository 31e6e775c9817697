// Picks the storage driver the configuration names: a directory, or an S3-compatible bucket.
import type { RegistryConfig } from '../config.ts';
import type { StorageDriver } from './driver.ts';
import { openFilesystemDriver } from './filesystem.ts';

export async function openStorage(storage: RegistryConfig['storage']): Promise<StorageDriver> {
  // the AWS SDK is a third of a registry's start-up CPU: loaded only for a bucket
  if (storage.s3) return (await import('./s3.ts')).openS3Driver(storage.s3);
  if (storage.root) return openFilesystemDriver(storage.root);
  throw new Error('storage: neither root nor s3 is configured');
}

/** where the registry stores, for its start-up log line: never a credential */
export function describeStorage(storage: RegistryConfig['storage']): string {
  if (storage.s3) {
    const { endpoint, bucket, prefix } = storage.s3;
    return `s3://${bucket}/${prefix}${endpoint ? ` at ${endpoint}` : ''}`;
  }
  return storage.root ?? '';
}
