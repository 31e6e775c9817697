// S3-compatible object storage behind the storage driver interface. A path is the key `<prefix>/<path>`;
// directories are implicit (listed with a delimiter); appends are explained in s3-append.ts. It assumes strong
// read-after-write and list-after-write consistency (AWS S3 since December 2020, versitygw, SeaweedFS, Ceph RGW,
// MinIO) and needs no conditional writes.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../config.ts';
import { KeyedLock } from './keyed-lock.ts';
import {
  InvalidPathError, PathNotFoundError, type ByteRange, type FileInfo, type FileReader, type StorageDriver,
} from './driver.ts';
import { Appender, appendedSize, isAppendState, parseState, type AppendState } from './s3-append.ts';
import { Bucket, MAX_PART_BYTES, readAll, type ObjectBody } from './s3-bucket.ts';
import { PresignedRequests } from './s3-presigned.ts';
import { PlainObjects } from './s3-plain-objects.ts';
import { S3FileReader, segmentsStream } from './s3-reader.ts';

/** Work objects of appended files live under this name at the root, which no registry path uses. */
const APPENDS_DIR = '.appends';
/** Requests in flight at once (the SDK's, and GETs apart): GC and listings work in parallel, each pull holds one GET. */
const MAX_SOCKETS = 64;
const CONNECT_TIMEOUT_MS = 10_000;
/** a connection on which nothing moved for this long is cut (a stalled S3); a blob reader then reopens its GET */
const IDLE_TIMEOUT_MS = 60_000;

export interface S3Tuning {
  /** part size of appended files (one part is buffered per running append); ≥ 5 MiB */
  partBytes: number;
  /** objects up to this size are copied with one CopyObject (S3 allows 5 GiB), larger ones part by part */
  maxSingleCopyBytes: number;
  /** part size of such a copy */
  copyPartBytes: number;
}

export const DEFAULT_S3_TUNING: S3Tuning = {
  // 10,000 parts of 10 MiB: an appended file may reach 97 GiB
  partBytes: 10 * 1024 * 1024,
  maxSingleCopyBytes: MAX_PART_BYTES,
  copyPartBytes: 1024 * 1024 * 1024,
};

/** what a path holds, found with one GET: a plain object (its body open) or an appended file's state */
type Found = { kind: 'object'; object: ObjectBody } | { kind: 'appended'; state: AppendState };

export class S3Driver implements StorageDriver {
  readonly bucket: Bucket;
  readonly implicitDirectories = true;
  private readonly config: S3StorageConfig;
  private readonly appender: Appender;
  /** `<prefix>/`, or '' for the whole bucket */
  private readonly root: string;
  /** appends, seals, moves and deletes of one path in this process, one at a time */
  private readonly lock = new KeyedLock();
  private readonly plainObjects = new PlainObjects();

  constructor(client: S3Client, config: S3StorageConfig, tuning: S3Tuning = DEFAULT_S3_TUNING) {
    this.config = config;
    const presigned = new PresignedRequests(client, config.bucket, {
      connections: MAX_SOCKETS, connectTimeoutMs: CONNECT_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS,
    });
    this.bucket = new Bucket(client, config.bucket, tuning, presigned);
    this.appender = new Appender(this.bucket, tuning.partBytes);
    this.root = config.prefix ? `${config.prefix}/` : '';
  }

  private normalize(path: string): string {
    const parts = path.split('/').filter((part) => part !== '');
    if (parts.some((part) => part === '..' || part === '.' || part.includes('\0'))) throw new InvalidPathError(path);
    return parts.join('/');
  }

  private key(path: string): string {
    const normalized = this.normalize(path);
    if (normalized === '') throw new InvalidPathError(path);
    return this.root + normalized;
  }

  /** the prefix of a directory's keys, ending in '/' (the root's is the driver's prefix) */
  private directoryPrefix(path: string): string {
    const normalized = this.normalize(path);
    return normalized === '' ? this.root : `${this.root}${normalized}/`;
  }

  /** where an appended file's (or a directory's appended files') work objects live */
  private workPrefix(path: string): string {
    const normalized = this.normalize(path);
    return `${this.root}${APPENDS_DIR}/${normalized === '' ? '' : `${normalized}/`}`;
  }

  async stat(path: string): Promise<FileInfo | null> {
    const normalized = this.normalize(path);
    if (normalized !== '') {
      const file = await this.statFile(normalized);
      if (file) return { ...file, path };
      if (!(await this.bucket.hasAny(this.directoryPrefix(normalized)))) return null;
    }
    // An object store keeps no directory times: the stat's own time, and a version that never matches twice,
    // so whatever a cache keyed on it holds is revalidated.
    return { path, size: 0, modifiedAt: new Date(), isDirectory: true, version: `directory-${randomUUID()}` };
  }

  async statFile(path: string): Promise<FileInfo | null> {
    const head = await this.bucket.head(this.key(path));
    if (!head) return null;
    return {
      path, size: isAppendState(head) ? appendedSize(head) : head.size, modifiedAt: head.modifiedAt, isDirectory: false,
      version: head.etag,
    };
  }

  async getContent(path: string): Promise<Buffer> {
    const read = await this.getVersionedContent(path);
    if (!read) throw new PathNotFoundError(path);
    return read.content;
  }

  async getVersionedContent(path: string): Promise<{ content: Buffer; version: string } | null> {
    const found = await this.lookup(this.key(path));
    if (!found) return null;
    if (found.kind === 'object') return { content: await readAll(found.object.body), version: found.object.etag };
    // an appended file's stat shows its state object's ETag, which sealing it for this read may change
    const sealed = await this.sealed(path, found.state);
    return { content: await readAll(segmentsStream(this.bucket, sealed.segments)), version: '' };
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const key = this.key(path);
    // S3 writes are atomic and durable once answered: `durable` has nothing to add
    this.plainObjects.forget(key);
    this.plainObjects.remember(key, { etag: await this.bucket.put(key, content), size: Buffer.byteLength(content) });
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    const found = await this.find(path, range);
    if (found.kind === 'object') return found.object.body;
    const sealed = await this.sealed(path, found.state);
    return segmentsStream(this.bucket, sealed.segments, range);
  }

  async open(path: string): Promise<FileReader> {
    const found = await this.find(path);
    if (found.kind === 'object') {
      return new S3FileReader(this.bucket, [{ key: this.key(path), size: found.object.size }], found.object.body);
    }
    const sealed = await this.sealed(path, found.state);
    return new S3FileReader(this.bucket, sealed.segments);
  }

  async append(path: string, source: Readable, expectedLength?: number): Promise<number> {
    const fileKey = this.key(path);
    return this.lock.run(fileKey, async () => {
      const found = await this.lookup(fileKey);
      this.plainObjects.forget(fileKey);
      const { size, plainEtag } = await this.appender.append(
        fileKey, this.workPrefix(path), found?.kind === 'appended' ? found.state : null, source, expectedLength,
        found?.kind === 'object' ? found.object : undefined,
      );
      if (plainEtag) this.plainObjects.remember(fileKey, { etag: plainEtag, size });
      return size;
    });
  }

  async move(from: string, to: string): Promise<void> {
    const sourceKey = this.key(from);
    const targetKey = this.key(to);
    await this.lock.run(sourceKey, async () => {
      this.plainObjects.forget(targetKey);
      const known = this.plainObjects.get(sourceKey);
      if (known) {
        // no read first: the copy is made only if the object is still the one this process wrote
        this.plainObjects.forget(sourceKey);
        const etag = await this.bucket.copyIfMatch(sourceKey, targetKey, known.etag);
        if (etag !== null) {
          await this.bucket.delete(sourceKey);
          this.plainObjects.remember(targetKey, { etag, size: known.size });
          return;
        }
      }
      const found = await this.lookup(sourceKey);
      if (!found) throw new PathNotFoundError(from);
      if (found.kind === 'object') {
        found.object.body.destroy();
        await this.bucket.copy(sourceKey, targetKey, found.object.size);
        await this.bucket.delete(sourceKey);
        return;
      }
      const sealed = await this.appender.seal(sourceKey, found.state);
      if (sealed.size === 0) await this.bucket.put(targetKey, Buffer.alloc(0));
      else await this.appender.writeConcatenation(sealed.segments, targetKey, this.workPrefix(from));
      // the state object first: once it is gone the file is, and its work objects are only leftovers (what
      // failed appends left goes with the purge, abortOrphanedUploads, which saves two listings here)
      await this.bucket.delete(sourceKey);
      await this.appender.remove(sealed);
    });
  }

  async list(path: string, page?: { after?: string; limit?: number }): Promise<string[]> {
    const prefix = this.directoryPrefix(path);
    const names = await this.bucket.listChildren(prefix, page);
    return this.normalize(path) === '' ? names.filter((name) => name !== APPENDS_DIR) : names;
  }

  async delete(path: string): Promise<void> {
    const normalized = this.normalize(path);
    if (normalized !== '') {
      const fileKey = this.key(normalized);
      const deleted = await this.lock.run(fileKey, async () => {
        if (this.plainObjects.get(fileKey)) {
          // a plain object this process wrote: no HEAD to ask whether it is an appended file
          this.plainObjects.forget(fileKey);
          await this.bucket.delete(fileKey);
          return true;
        }
        const head = await this.bucket.head(fileKey);
        if (!head) return false;
        const state = isAppendState(head) ? await this.appender.readState(fileKey) : null;
        await this.bucket.delete(fileKey);
        if (state) await this.appender.remove(state);
        return true;
      });
      if (deleted) return;
    }
    let any = false;
    for await (const objects of this.bucket.listAll(this.directoryPrefix(normalized))) {
      any ||= objects.length > 0;
      const keys = objects.map((object) => object.key);
      for (const key of keys) this.plainObjects.forget(key);
      await this.bucket.deleteBatch(keys);
    }
    // the directory's appended files leave work objects under its work prefix
    if (any) await this.appender.discard(this.workPrefix(normalized));
  }

  async *listFiles(path: string): AsyncIterable<FileInfo> {
    const prefix = this.directoryPrefix(path);
    const work = `${this.root}${APPENDS_DIR}/`;
    for await (const objects of this.bucket.listAll(prefix)) {
      for (const object of objects) {
        if (object.key.startsWith(work)) continue;
        yield {
          path: object.key.slice(this.root.length), size: object.size, modifiedAt: object.modifiedAt, isDirectory: false,
          version: object.etag,
        };
      }
    }
  }

  async deleteFiles(paths: string[]): Promise<void> {
    const keys = paths.map((path) => this.key(path));
    for (const key of keys) this.plainObjects.forget(key);
    await this.bucket.deleteBatch(keys);
  }

  /** a presigned GET of the file's object, for clients sent to S3 directly (only for plain objects: blobs) */
  async redirectUrl(path: string, expiresInSeconds: number): Promise<string> {
    return this.bucket.presignedGet(this.key(path), expiresInSeconds);
  }

  /** HeadBucket: throws an error naming the bucket, the endpoint and S3's error code (never a credential) */
  async check(): Promise<void> {
    try {
      await this.bucket.exists();
    } catch (error) {
      const { name, code, $metadata } = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
      const status = $metadata?.httpStatusCode;
      const reason = `${code ?? name ?? 'error'}${status ? ` (HTTP ${status})` : ''}`;
      const where = this.config.endpoint ?? `the AWS endpoint of ${this.config.region}`;
      throw new Error(`S3 bucket ${this.config.bucket} at ${where}: ${reason}`, { cause: error });
    }
  }

  /**
   * Aborts the multipart uploads and removes the work objects under `path` that were begun before
   * `olderThanMs` ago and that no appended file refers to: what an append interrupted by a crash (before it
   * wrote its state) leaves behind, and the leftovers of files that are gone. Returns how many it removed.
   */
  async abortOrphanedUploads(path: string, olderThanMs: number, now = Date.now()): Promise<number> {
    const workRoot = `${this.root}${APPENDS_DIR}/`;
    const states = new Map<string, Promise<AppendState | null>>();
    // a work key is <work root><file path>/<name>: the file's state says whether it is still referred to
    const stateOf = (workKey: string) => {
      const fileKey = this.root + workKey.slice(workRoot.length, workKey.lastIndexOf('/'));
      let state = states.get(fileKey);
      if (!state) {
        state = this.appender.readState(fileKey);
        states.set(fileKey, state);
      }
      return state;
    };
    return this.appender.discard(this.workPrefix(path), new Date(now - olderThanMs), async (key, uploadId) => {
      const state = await stateOf(key);
      if (!state) return false;
      if (uploadId !== undefined) return state.upload?.uploadId === uploadId;
      return state.segments.some((segment) => segment.key === key);
    });
  }

  /**
   * GETs a key, with a range when given: a plain object's body comes back open (the caller reads or destroys it);
   * an appended file's state is read whole. Null when nothing is there.
   */
  private async lookup(fileKey: string, range?: ByteRange): Promise<Found | null> {
    const object = await this.bucket.get(fileKey, range);
    if (!object) return null;
    if (!isAppendState(object)) return { kind: 'object', object };
    // another replica may have appended to an object this one wrote
    this.plainObjects.forget(fileKey);
    if (!range) return { kind: 'appended', state: parseState(await readAll(object.body)) };
    // a range of the state object is of no use: read it whole
    object.body.destroy();
    const state = await this.appender.readState(fileKey);
    return state ? { kind: 'appended', state } : null;
  }

  private async find(path: string, range?: ByteRange): Promise<Found> {
    const found = await this.lookup(this.key(path), range);
    if (!found) throw new PathNotFoundError(path);
    return found;
  }

  /** the state with all its bytes readable: a file with parts uploaded is completed first */
  private async sealed(path: string, state: AppendState): Promise<AppendState> {
    if (!state.upload) return state;
    const fileKey = this.key(path);
    return this.lock.run(fileKey, async () => {
      // read again under the lock: an append or a seal of this process may have changed it meanwhile
      const current = await this.appender.readState(fileKey);
      if (!current) throw new PathNotFoundError(path);
      return this.appender.seal(fileKey, current);
    });
  }
}

/** The S3 client the configuration describes: credentials from the key files, else the SDK's default chain. */
export async function createS3Client(config: S3StorageConfig): Promise<S3Client> {
  const credentials = config.accessKeyFile && config.secretKeyFile
    ? {
      accessKeyId: (await readFile(config.accessKeyFile, 'utf8')).trim(),
      secretAccessKey: (await readFile(config.secretKeyFile, 'utf8')).trim(),
    }
    : undefined;
  return new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // Since SDK 3.729 every request carries a CRC checksum by default, which many S3-compatible servers reject.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: IDLE_TIMEOUT_MS,
      httpAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
      httpsAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
    },
  });
}

export async function openS3Driver(config: S3StorageConfig, tuning?: S3Tuning): Promise<S3Driver> {
  return new S3Driver(await createS3Client(config), config, tuning);
}
