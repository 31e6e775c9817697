// Helpers that push small images through the registry API, for tests that need content to work with.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Client } from './http.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

export interface Blob {
  digest: string;
  size: number;
  content: Buffer;
}

export function blob(content: Buffer | string): Blob {
  const buffer = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { digest: sha256(buffer), size: buffer.length, content: buffer };
}

export function randomBlob(size = 1024): Blob {
  return blob(randomBytes(size));
}

export async function pushBlob(client: Client, name: string, content: Blob): Promise<void> {
  const response = await client.send('POST', `/v2/${name}/blobs/uploads/?digest=${content.digest}`, {
    headers: { 'content-type': 'application/octet-stream' },
    body: content.content,
  });
  if (response.status !== 201) throw new Error(`blob push failed: ${response.status} ${response.body}`);
}

export function imageManifest(config: Blob, layers: Blob[], extra: Record<string, unknown> = {}): Blob {
  return blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: layer.digest, size: layer.size })),
    ...extra,
  }));
}

export async function pushManifest(client: Client, name: string, reference: string, manifest: Blob, mediaType = OCI_MANIFEST) {
  const response = await client.send('PUT', `/v2/${name}/manifests/${reference}`, {
    headers: { 'content-type': mediaType },
    body: manifest.content,
  });
  if (response.status !== 201) throw new Error(`manifest push failed: ${response.status} ${response.body}`);
  return response;
}

/** Pushes a config, the given layers and a manifest; returns the manifest. */
export async function pushImage(client: Client, name: string, tag: string, layers: Blob[] = [randomBlob()]): Promise<Blob> {
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt: randomBytes(4).toString('hex') }));
  await pushBlob(client, name, config);
  for (const layer of layers) await pushBlob(client, name, layer);
  const manifest = imageManifest(config, layers);
  await pushManifest(client, name, tag, manifest);
  return manifest;
}

/** Every file under the storage root, with sizes, ignoring temporaries: to assert that a failed request changed nothing. */
export function storageSnapshot(root: string): Record<string, number> {
  const files: Record<string, number> = {};
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      const rel = relative(root, path);
      if (rel === '.tmp' || rel.startsWith('.tmp/')) continue;
      // The registry may remove an entry between readdir and stat (an aborted upload's directory, for one).
      const info = statSync(path, { throwIfNoEntry: false });
      if (!info) continue;
      if (info.isDirectory()) walk(path);
      else files[rel] = info.size;
    }
  };
  walk(root);
  return files;
}
