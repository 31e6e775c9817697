// The few S3 calls the S3 storage driver makes, on one bucket, with S3's "not found" answers turned into nulls.
// Keys here are whole object keys (the driver has already put its prefix in front).
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectsCommand, HeadBucketCommand, ListMultipartUploadsCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { ByteRange } from './driver.ts';
import type { PresignedRequests } from './s3-presigned.ts';

/** S3's smallest part, for every part of a multipart upload but the last */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's largest part, and the largest object one CopyObject (or one UploadPartCopy) copies */
export const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;
/** parts one multipart upload may have */
export const MAX_PARTS = 10_000;
/** deletions and part copies in flight for one call */
const PARALLEL_REQUESTS = 16;
/** keys one DeleteObjects may name */
const MAX_KEYS_PER_DELETE = 1000;
/** DeleteObjects requests in flight for one call */
const PARALLEL_BATCH_DELETES = 4;

export interface ObjectHead {
  size: number;
  etag: string;
  modifiedAt: Date;
  /** user metadata (x-amz-meta-*), names in lower case */
  metadata: Record<string, string>;
}

export interface ObjectBody extends ObjectHead {
  body: Readable;
}

export interface ListedObject {
  key: string;
  modifiedAt: Date;
  size: number;
  etag: string;
}

export interface CompletedPart {
  number: number;
  etag: string;
  size: number;
}

export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface CopyTuning {
  /** objects up to this size are copied with one CopyObject; larger ones part by part */
  maxSingleCopyBytes: number;
  /** part size of a multipart copy */
  copyPartBytes: number;
}

/** S3's status for a key (or upload) that does not exist; a missing bucket is an error, not a missing key */
export function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

function isInvalidRange(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'InvalidRange' || $metadata?.httpStatusCode === 416;
}

/** S3's copy source header: bucket and key, the key URL-encoded segment by segment */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export class Bucket {
  readonly client: S3Client;
  readonly name: string;
  private readonly copyTuning: CopyTuning;
  private readonly presigned: PresignedRequests;

  constructor(client: S3Client, name: string, copyTuning: CopyTuning, presigned: PresignedRequests) {
    this.client = client;
    this.name = name;
    this.copyTuning = copyTuning;
    this.presigned = presigned;
  }

  async exists(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
  }

  /** sent outside the SDK (see s3-presigned.ts) */
  head(key: string): Promise<ObjectHead | null> {
    return this.presigned.head(key);
  }

  /**
   * The object's bytes as a stream, once S3 has answered; null when there is no such object, and an empty body
   * when a range starts at or past its end (S3 answers 416). Sent outside the SDK (see s3-presigned.ts).
   */
  async get(key: string, range?: ByteRange): Promise<ObjectBody | null> {
    try {
      const { size, etag, modifiedAt, metadata, body } = await this.presigned.get(key, range);
      return { size, etag, modifiedAt, metadata, body };
    } catch (error) {
      if (isNotFound(error)) return null;
      if (range && isInvalidRange(error)) {
        const head = await this.head(key);
        if (!head) return null;
        return { ...head, body: Readable.from([], { objectMode: false }) };
      }
      throw error;
    }
  }

  /** a URL from which anyone may GET the object for that long */
  presignedGet(key: string, expiresInSeconds: number): Promise<string> {
    return this.presigned.signedUrl(key, expiresInSeconds);
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    const object = await this.get(key);
    return object ? readAll(object.body) : null;
  }

  /** returns the new object's ETag; sent outside the SDK (see s3-presigned.ts) */
  put(key: string, body: Buffer | string, metadata?: Record<string, string>): Promise<string> {
    return retryingParentRace(() => this.presigned.put(key, body, metadata));
  }

  /** sent outside the SDK (see s3-presigned.ts) */
  delete(key: string): Promise<void> {
    return this.presigned.delete(key);
  }

  /** One DeleteObject per key, some in parallel: for a few keys, where a DeleteObjects saves nothing. */
  async deleteMany(keys: string[]): Promise<void> {
    const limit = pLimit(PARALLEL_REQUESTS);
    await Promise.all(keys.map((key) => limit(() => this.delete(key))));
  }

  /** whether DeleteObjects works here: GCS's interoperability lacks it, and a server may refuse its checksum */
  private batchDeletes = true;

  /**
   * Deletes keys a thousand a request (DeleteObjects; absent keys are no error), some requests in parallel; one
   * by one where the server has no DeleteObjects. Throws when S3 could not delete one.
   */
  async deleteBatch(keys: string[]): Promise<void> {
    const batches: string[][] = [];
    for (let start = 0; start < keys.length; start += MAX_KEYS_PER_DELETE) batches.push(keys.slice(start, start + MAX_KEYS_PER_DELETE));
    const limit = pLimit(PARALLEL_BATCH_DELETES);
    await Promise.all(batches.map((batch) => limit(async () => {
      if (this.batchDeletes) {
        try {
          const response = await this.client.send(new DeleteObjectsCommand({
            Bucket: this.name, Delete: { Objects: batch.map((key) => ({ Key: key })), Quiet: true },
          }));
          const failed = response.Errors ?? [];
          if (failed.length > 0) {
            const { Key, Code } = failed[0]!;
            throw new Error(`S3 could not delete ${failed.length} of ${batch.length} objects (${Key}: ${Code})`);
          }
          return;
        } catch (error) {
          const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
          if (name !== 'NotImplemented' && $metadata?.httpStatusCode !== 501) throw error;
          this.batchDeletes = false;
        }
      }
      await this.deleteMany(batch);
    })));
  }

  /**
   * One CopyObject of an object that is still `etag` (any object one PUT wrote: up to 5 GiB); returns the copy's
   * ETag, or null when the object is another now, or gone (S3 answers 412 or 404).
   */
  async copyIfMatch(from: string, to: string, etag: string): Promise<string | null> {
    try {
      return await retryingParentRace(() => this.copyObject(from, to, etag));
    } catch (error) {
      const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (name === 'PreconditionFailed' || $metadata?.httpStatusCode === 412 || isNotFound(error)) return null;
      throw error;
    }
  }

  /** one CopyObject, sent outside the SDK where the server's URLs allow it (see s3-presigned.ts); returns the ETag */
  private async copyObject(from: string, to: string, ifMatch?: string): Promise<string> {
    const etag = await this.presigned.copy(from, to, ifMatch);
    if (etag !== undefined) return etag;
    const response = await this.client.send(new CopyObjectCommand({
      Bucket: this.name, Key: to, CopySource: copySource(this.name, from), ...(ifMatch ? { CopySourceIfMatch: ifMatch } : {}),
    }));
    return response.CopyObjectResult?.ETag ?? '';
  }

  /** Copies server-side: one CopyObject up to its 5 GiB limit (or the tuning's), part by part above. */
  async copy(from: string, to: string, size: number): Promise<void> {
    if (size <= this.copyTuning.maxSingleCopyBytes) {
      await retryingParentRace(() => this.copyObject(from, to));
      return;
    }
    const uploadId = await this.createUpload(to);
    try {
      const ranges = splitRange(0, size, this.copyTuning.copyPartBytes);
      const limit = pLimit(PARALLEL_REQUESTS);
      const parts = await Promise.all(ranges.map((range, index) => limit(async () => ({
        number: index + 1,
        etag: await this.uploadPartCopy(to, uploadId, index + 1, from, range),
        size: range.end - range.start + 1,
      }))));
      await this.completeUpload(to, uploadId, parts);
    } catch (error) {
      await this.abortUpload(to, uploadId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Direct children under a prefix ending in '/': the names of sub-prefixes and of objects, each once (a name may be
   * both). With `page`: sorted, only those after `page.after` and at most `page.limit`, listed from `after` on and not
   * much further than the page needs.
   */
  async listChildren(prefix: string, page?: { after?: string; limit?: number }): Promise<string[]> {
    const limit = page?.limit ?? Infinity;
    if (limit <= 0) return [];
    const after = page?.after;
    const names = new Set<string>();
    // the greatest key or sub-prefix listed so far
    let reached = '';
    let token: string | undefined;
    do {
      const listed = await this.presigned.list({
        prefix, delimiter: '/', ...(token ? { continuationToken: token } : {}),
        // keys after `<prefix><after>`: every name after `after` (and a few before it, dropped below)
        ...(after !== undefined && !token ? { startAfter: `${prefix}${after}` } : {}),
        // one more on the first request after a name: the sub-prefix `<after>/` comes back too, and is dropped
        ...(Number.isFinite(limit) ? { maxKeys: Math.min(1000, limit - names.size + (after !== undefined && !token ? 1 : 0)) } : {}),
      });
      const keys = [...listed.commonPrefixes, ...listed.contents.map((object) => object.key)];
      for (const key of keys) {
        if (key > reached) reached = key;
        const name = key.endsWith('/') ? key.slice(prefix.length, -1) : key.slice(prefix.length);
        if (name && (after === undefined || name > after)) names.add(name);
      }
      token = listed.nextContinuationToken;
    } while (token && names.size < limit);
    // unpaged, in the order listed (a link walk of GC may list a hundred thousand names)
    if (!page) return [...names];
    if (token) {
      // the listing stopped early: ask for each sub-prefix still to come that would sort into the page
      const awaited = awaitedNames(firstNames(names, limit), names, prefix, after, reached);
      const found = await Promise.all(awaited.map((name) => this.hasAny(`${prefix}${name}/`)));
      awaited.forEach((name, index) => found[index] && names.add(name));
    }
    return firstNames(names, limit);
  }

  /** whether any object's key starts with the prefix */
  async hasAny(prefix: string): Promise<boolean> {
    return (await this.presigned.list({ prefix, maxKeys: 1 })).contents.length > 0;
  }

  /** every object under a prefix, one page (up to 1,000 keys) at a time */
  async *listAll(prefix: string): AsyncGenerator<ListedObject[]> {
    let token: string | undefined;
    do {
      const page = await this.presigned.list({ prefix, ...(token ? { continuationToken: token } : {}) });
      yield page.contents;
      token = page.nextContinuationToken;
    } while (token);
  }

  /** multipart uploads begun and neither completed nor aborted under a prefix, page by page */
  async *listUploads(prefix: string): AsyncGenerator<MultipartUpload[]> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.name, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
      }));
      yield (page.Uploads ?? []).flatMap((upload) => upload.Key && upload.UploadId
        ? [{ key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated ?? new Date(0) }]
        : []);
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async createUpload(key: string): Promise<string> {
    const response = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: key }));
    if (!response.UploadId) throw new Error(`S3 returned no upload id for ${key}`);
    return response.UploadId;
  }

  async uploadPart(key: string, uploadId: string, number: number, body: Buffer): Promise<string> {
    const response = await this.client.send(new UploadPartCommand({
      Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: body.length,
    }));
    return response.ETag ?? '';
  }

  /** a part copied from a byte range of another object, on the server */
  async uploadPartCopy(key: string, uploadId: string, number: number, from: string, range: ByteRange): Promise<string> {
    const response = await this.client.send(new UploadPartCopyCommand({
      Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: number,
      CopySource: copySource(this.name, from), CopySourceRange: `bytes=${range.start}-${range.end}`,
    }));
    return response.CopyPartResult?.ETag ?? '';
  }

  async completeUpload(key: string, uploadId: string, parts: CompletedPart[]): Promise<void> {
    await this.client.send(new CompleteMultipartUploadCommand({
      Bucket: this.name, Key: key, UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.number, ETag: part.etag })) },
    }));
  }

  /** no error when the upload is gone already */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }));
    } catch (error) {
      if (!isNotFound(error) && (error as { name?: string }).name !== 'NoSuchUpload') throw error;
    }
  }
}

/** the `limit` first of the names, sorted */
function firstNames(names: Set<string>, limit: number): string[] {
  const sorted = [...names].sort();
  return Number.isFinite(limit) ? sorted.slice(0, limit) : sorted;
}

/**
 * S3 lists keys in byte order, a sub-prefix with its '/': `v1/` comes after `v1-rc/` and `v1.0/` ('-' and '.' sort
 * before '/'), though the name v1 sorts before theirs. The names a listing stopped before reaching that could still
 * sort into a page: beginnings of the page's names, cut before a character that sorts before '/', whose sub-prefix
 * `<name>/` lies past the listing's end. A beginning can only be a sub-prefix there: an object `v1` comes before `v1-rc/`.
 */
function awaitedNames(page: string[], listed: Set<string>, prefix: string, after: string | undefined, reached: string): string[] {
  const awaited = new Set<string>();
  for (const name of page) {
    for (let end = 1; end < name.length; end++) {
      if (name[end]! >= '/') continue;
      const shorter = name.slice(0, end);
      if ((after === undefined || shorter > after) && !listed.has(shorter) && `${prefix}${shorter}/` > reached) awaited.add(shorter);
    }
  }
  return [...awaited];
}

/**
 * [start, start + length) cut into consecutive ranges of at most `maxBytes`, as equal as possible (so none is
 * smaller than S3's minimum part when the whole is at least that).
 */
export function splitRange(start: number, length: number, maxBytes: number): ByteRange[] {
  const count = Math.max(1, Math.ceil(length / maxBytes));
  const base = Math.floor(length / count);
  const ranges: ByteRange[] = [];
  let position = start;
  for (let index = 0; index < count; index++) {
    const size = base + (index < length % count ? 1 : 0);
    ranges.push({ start: position, end: position + size - 1 });
    position += size;
  }
  return ranges;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * versitygw's posix backend removes a directory once its last object is deleted; a PUT or copy into that directory
 * at the same moment fails with ExistingObjectIsDirectory (409) although the key is no directory. Tried again, it
 * works (seen under concurrent pushes and collections: a push answered 500 without this).
 */
async function retryingParentRace<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if ((error as { name?: string }).name !== 'ExistingObjectIsDirectory' || attempt >= 5) throw error;
    }
  }
}
