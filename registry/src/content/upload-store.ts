// Blob upload sessions. A session is a directory holding the bytes received so far and who started it; it
// survives a restart (the size on disk is the resume offset). Bytes are hashed as they arrive, so closing a
// session does not re-read a large blob; after a restart, or a failed chunk, the hash is recomputed from disk.
import { randomUUID, type Hash } from 'node:crypto';
import { pipeline as streamPipeline, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileReader, StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError, SizeMismatchError } from '../storage/driver.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import { newHash, type ParsedDigest } from '../oci/digest.ts';
import type { BlobStore } from './blob-store.ts';
import { KeyedLock } from './keyed-lock.ts';
import { paths, UPLOADS_ROOT } from './paths.ts';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface SessionInfo {
  repository: string;
  startedAt: string;
  /** who started it (see UploadStore.create); absent in sessions written by older versions */
  owner?: string;
}

interface SessionState {
  info: SessionInfo;
  size: number;
  /** sha256 of bytes [0, size), or null when it must be recomputed from disk */
  sha256: Hash | null;
}

export interface ChunkOptions {
  /** first byte offset the client claims (Content-Range); must equal the current size */
  start?: number;
  /** byte count the client announced; a body of another length is rejected */
  length?: number;
}

export interface CompletedUpload {
  digest: ParsedDigest;
  size: number;
  startedAt: Date;
}

export interface UploadStoreOptions {
  /** open sessions one owner may hold; 0: no cap */
  maxSessionsPerOwner?: number;
}

export class UploadStore {
  private readonly driver: StorageDriver;
  private readonly blobs: BlobStore;
  private readonly sessions = new Map<string, SessionState>();
  private readonly lock = new KeyedLock();
  private readonly maxSessionsPerOwner: number;
  /**
   * Open sessions by owner, to cap what one user can leave lying around. Counted by this process: sessions it
   * started and those it has touched since a restart (the purge removes the rest in time).
   */
  private readonly openByOwner = new Map<string, Set<string>>();

  constructor(driver: StorageDriver, blobs: BlobStore, options: UploadStoreOptions = {}) {
    this.driver = driver;
    this.blobs = blobs;
    this.maxSessionsPerOwner = options.maxSessionsPerOwner ?? 0;
  }

  /** `owner`: the user, or on a registry without auth the client address; completing or cancelling frees its slot. */
  async create(repository: string, owner: string): Promise<{ id: string; size: number }> {
    if (this.maxSessionsPerOwner > 0 && (this.openByOwner.get(owner)?.size ?? 0) >= this.maxSessionsPerOwner) {
      throw registryError(
        ErrorCodes.TOOMANYREQUESTS,
        `too many open upload sessions (limit ${this.maxSessionsPerOwner}): complete or cancel (DELETE) one first`,
        { limit: this.maxSessionsPerOwner },
      );
    }
    const id = randomUUID();
    // the slot is taken before the first await, so concurrent creates cannot all pass the check
    this.track(id, owner);
    const info: SessionInfo = { repository, startedAt: new Date().toISOString(), owner };
    try {
      await this.driver.putContent(paths.uploadInfo(id), JSON.stringify(info), { durable: false });
    } catch (error) {
      this.forget(id, owner);
      throw error;
    }
    this.sessions.set(id, { info, size: 0, sha256: newHash('sha256') });
    return { id, size: 0 };
  }

  /** current size of the session's data, i.e. the offset the next chunk must start at */
  async size(repository: string, id: string): Promise<number> {
    return (await this.load(repository, id)).size;
  }

  async appendChunk(repository: string, id: string, source: Readable, options: ChunkOptions = {}): Promise<number> {
    return this.lock.run(id, async () => {
      const state = await this.load(repository, id);
      await this.appendTo(id, state, source, options);
      return state.size;
    });
  }

  /**
   * Appends an optional last chunk, verifies the digest and moves the blob into the store. On a digest mismatch
   * the session is kept as it was, so nothing the client sent is lost.
   */
  async complete(
    repository: string, id: string, digest: ParsedDigest, lastChunk?: Readable, options: ChunkOptions = {},
  ): Promise<CompletedUpload> {
    return this.lock.run(id, async () => {
      const state = await this.load(repository, id);
      if (lastChunk) await this.appendTo(id, state, lastChunk, options);
      const actual = await this.digestOf(id, state, digest.algorithm);
      if (actual !== digest.hex) {
        throw registryError(ErrorCodes.DIGEST_INVALID, 'provided digest did not match uploaded content', {
          digest: digest.value,
        });
      }
      await this.blobs.protect(digest);
      if ((await this.blobs.size(digest)) === null) {
        await this.blobs.commitFile(paths.uploadData(id), digest, state.size);
      } else {
        await this.driver.delete(paths.uploadData(id));
      }
      // file by file, which costs a few system calls; a recursive delete walks the directory first
      await this.driver.delete(paths.uploadInfo(id));
      await this.driver.delete(paths.upload(id));
      this.forget(id, state.info.owner);
      return { digest, size: state.size, startedAt: new Date(state.info.startedAt) };
    });
  }

  /**
   * Opens the bytes received so far for reading while more may still be appended (a mirror streams a blob to
   * its clients as it arrives); throws PathNotFoundError before the first byte and after the session closed.
   */
  async openData(repository: string, id: string): Promise<FileReader> {
    await this.load(repository, id);
    return this.driver.open(paths.uploadData(id));
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.lock.run(id, async () => {
      const state = await this.load(repository, id);
      await this.driver.delete(paths.upload(id));
      this.forget(id, state.info.owner);
    });
  }

  /** Removes sessions with no activity for `maxAgeMs`; returns how many. */
  async purgeStale(maxAgeMs: number, now = Date.now()): Promise<number> {
    let purged = 0;
    for (const id of await this.driver.list(UPLOADS_ROOT)) {
      if (this.lock.isBusy(id)) continue;
      const data = await this.driver.stat(paths.uploadData(id));
      const info = data ?? (await this.driver.stat(paths.uploadInfo(id))) ?? (await this.driver.stat(paths.upload(id)));
      if (info && now - info.modifiedAt.getTime() > maxAgeMs) {
        await this.driver.delete(paths.upload(id));
        this.forget(id, this.sessions.get(id)?.info.owner);
        purged++;
      }
    }
    return purged;
  }

  private async load(repository: string, id: string): Promise<SessionState> {
    const unknown = () => registryError(ErrorCodes.BLOB_UPLOAD_UNKNOWN, 'upload unknown', { uuid: id });
    if (!UUID_PATTERN.test(id)) throw unknown();
    let state = this.sessions.get(id);
    if (!state) {
      let info: SessionInfo;
      try {
        info = JSON.parse((await this.driver.getContent(paths.uploadInfo(id))).toString('utf8')) as SessionInfo;
      } catch (error) {
        if (error instanceof PathNotFoundError || error instanceof SyntaxError) throw unknown();
        throw error;
      }
      const size = (await this.driver.stat(paths.uploadData(id)))?.size ?? 0;
      state = { info, size, sha256: size === 0 ? newHash('sha256') : null };
      this.sessions.set(id, state);
      if (info.owner !== undefined) this.track(id, info.owner);
    }
    if (state.info.repository !== repository) throw unknown();
    return state;
  }

  private track(id: string, owner: string): void {
    this.openByOwner.set(owner, (this.openByOwner.get(owner) ?? new Set<string>()).add(id));
  }

  private forget(id: string, owner: string | undefined): void {
    this.sessions.delete(id);
    if (owner === undefined) return;
    const open = this.openByOwner.get(owner);
    open?.delete(id);
    if (open?.size === 0) this.openByOwner.delete(owner);
  }

  private async appendTo(id: string, state: SessionState, source: Readable, options: ChunkOptions): Promise<void> {
    if (options.start !== undefined && options.start !== state.size) {
      source.resume();
      throw registryError(ErrorCodes.RANGE_INVALID, `chunk must start at offset ${state.size}`, {
        expected: state.size, received: options.start,
      }, { Range: rangeHeader(state.size), 'Docker-Upload-UUID': id });
    }
    const hash = state.sha256;
    // the callback form of pipeline hands back the last stream and destroys it when the source fails
    const body = hash ? streamPipeline(source, hashingTransform(hash), () => undefined) : source;
    try {
      state.size = await this.driver.append(paths.uploadData(id), body, options.length);
    } catch (error) {
      // the driver rolled the file back, but the hash has seen the bytes: recompute it at close
      state.sha256 = null;
      if (error instanceof SizeMismatchError) {
        throw registryError(ErrorCodes.SIZE_INVALID, error.message, { expected: error.expected, received: error.received });
      }
      throw error;
    }
  }

  private async digestOf(id: string, state: SessionState, algorithm: ParsedDigest['algorithm']): Promise<string> {
    if (algorithm === 'sha256' && state.sha256) {
      const hex = state.sha256.digest('hex');
      state.sha256 = null;
      return hex;
    }
    const hash = newHash(algorithm);
    if (state.size > 0) await pipeline(await this.driver.reader(paths.uploadData(id)), hashingTransform(hash), devNull());
    state.sha256 = null;
    return hash.digest('hex');
  }
}

/** The Range header value the spec wants for a session holding `size` bytes. */
export function rangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

function hashingTransform(hash: Hash): Transform {
  return new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

function devNull(): Writable {
  return new Writable({ highWaterMark: 1024 * 1024, write(_chunk, _encoding, callback) { callback(); } });
}
