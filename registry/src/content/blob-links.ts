// A blob becomes readable in a repository through a link: an upload's commit or a cross-repository mount writes
// one. The routes call these; the protection against a garbage collection running meanwhile is taken here, before
// the blob's existence is checked (see content/gc-guard.ts).
import type { Readable } from 'node:stream';
import type { ParsedDigest } from '../oci/digest.ts';
import type { BlobStore } from './blob-store.ts';
import type { RepositoryStore } from './repository-store.ts';
import type { ChunkOptions, CompletedUpload, UploadStore } from './upload-store.ts';

export interface LinkingStores {
  blobs: BlobStore;
  repositories: RepositoryStore;
  uploads: UploadStore;
}

/**
 * Closes an upload session (an optional last chunk, the digest verified, the blob moved into the store) and links
 * the blob into the repository the session was opened for.
 */
export async function completeUpload(
  stores: LinkingStores, repository: string, id: string, digest: ParsedDigest, lastChunk?: Readable, options: ChunkOptions = {},
): Promise<CompletedUpload> {
  const completed = await stores.uploads.complete(repository, id, digest, lastChunk, options);
  await stores.repositories.linkBlob(repository, digest);
  return completed;
}

/**
 * Cross-repository mount: links the blob into `repository` when it is stored and linked in `from`; false when it
 * is not (the caller then opens an ordinary upload session). Whether the caller may pull from `from` is the
 * route's to decide, before.
 */
export async function mountBlob(stores: LinkingStores, repository: string, digest: ParsedDigest, from: string): Promise<boolean> {
  await stores.blobs.protectForLink(digest);
  const [linked, size] = await Promise.all([stores.repositories.isBlobLinked(from, digest), stores.blobs.size(digest)]);
  if (!linked || size === null) return false;
  await stores.repositories.linkBlob(repository, digest);
  return true;
}
