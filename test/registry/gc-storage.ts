// What GC tests do to a stopped-in-time store: age blobs past a grace period, plant unreferenced ones.
import { randomBytes } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blob, imageManifest, sha256, storageSnapshot, type Blob } from '../support/oci.ts';

/** where the registry keeps a sha256 blob under its storage root */
export function blobFile(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Sets every blob's mtime back, as if pushed long ago. */
export function ageAllBlobs(root: string, seconds: number): void {
  const when = new Date(Date.now() - seconds * 1000);
  for (const path of Object.keys(storageSnapshot(root))) {
    if (path.startsWith('blobs/')) utimesSync(join(root, path), when, when);
  }
}

/** Unreferenced blobs, two hours old, straight into the store: a collection then has that much to walk. */
export function plantGarbage(root: string, count: number): void {
  const when = new Date(Date.now() - 7200_000);
  for (let i = 0; i < count; i++) {
    const content = randomBytes(32);
    const path = blobFile(root, sha256(content));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
    utimesSync(path, when, when);
  }
}

/** an image to push: its manifest and every blob it needs, config first */
export interface Image {
  repository: string;
  tag: string;
  manifest: Blob;
  blobs: Blob[];
}

/** an image with its own config (a random salt), so no two images share a manifest digest */
export function makeImage(repository: string, tag: string, layers: Blob[]): Image {
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag, salt: randomBytes(4).toString('hex') }));
  return { repository, tag, manifest: imageManifest(config, layers), blobs: [config, ...layers] };
}

/** a promise a test resolves from elsewhere, to order concurrent steps */
export interface Signal {
  promise: Promise<void>;
  resolve: () => void;
}

export function signal(): Signal {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}
