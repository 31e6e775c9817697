// Blob upload sessions. A session is a directory holding the bytes received so far and who started it; it
// survives a restart (the size in storage is the resume offset). Bytes are hashed as they arrive, so closing a
// session does not re-read a large blob; after a restart, or a failed chunk, the hash is recomputed from storage.
// On storage other processes share (replicas behind one Service), a session's chunks may reach different
// processes: each request then reads the offset from storage, and a process keeps its hash only while the stored
// size is the size the hash covers (sizes only grow, so an equal size means the same bytes). A hash another
// process could resume (hash-wasm's) would run at a fifth of OpenSSL's speed on every push; a session that did
// move between processes is instead hashed once more at completion, with one read of its data.
import { randomUUID, type Hash } from 'node:crypto';
import { pipeline as streamPipeline, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileReader, StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError, SizeMismatchError } from '../storage/driver.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import { newHash, type ParsedDigest } from '../oci/digest.ts';
import type { BlobStore } from './blob-store.ts';
import { KeyedLock } from '../storage/keyed-lock.ts';
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
  /** sha256 of bytes [0, size), or null when it must be recomputed from storage */
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
  /** other processes serve the same sessions (storage.shared): the offset is read from storage on every request */
  shared?: boolean;
}

/** At the session cap on shared storage, an owner's sessions are checked for ones closed elsewhere at most this often. */
const OWNER_RECHECK_INTERVAL_MS = 1000;

export class UploadStore {
  private readonly driver: StorageDriver;
  private readonly blobs: BlobStore;
  private readonly sessions = new Map<string, SessionState>();
  private readonly lock = new KeyedLock();
  private readonly maxSessionsPerOwner: number;
  private readonly shared: boolean;
  /**
   * Open sessions by owner, to cap what one user can leave lying around. Counted by this process: sessions it
   * started and those it has touched since a restart (the purge removes the rest in time). On shared storage the
   * cap is per process, and sessions another process closed are found when the owner reaches it.
   */
  private readonly openByOwner = new Map<string, Set<string>>();
  /** shared storage: when an owner's sessions were last checked for ones closed elsewhere */
  private readonly ownerCheckedAt = new Map<string, number>();

  constructor(driver: StorageDriver, blobs: BlobStore, options: UploadStoreOptions = {}) {
    this.driver = driver;
    this.blobs = blobs;
    this.maxSessionsPerOwner = options.maxSessionsPerOwner ?? 0;
    this.shared = options.shared ?? false;
  }

  /** `owner`: the user, or on a registry without auth the client address; completing or cancelling frees its slot. */
  async create(repository: string, owner: string): Promise<{ id: string; size: number }> {
    if (this.shared && this.atSessionCap(owner)) await this.forgetClosedElsewhere(owner);
    if (this.atSessionCap(owner)) {
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
    if (!this.shared) return (await this.load(repository, id)).size;
    return this.lock.run(id, async () => (await this.current(repository, id)).size);
  }

  async appendChunk(repository: string, id: string, source: Readable, options: ChunkOptions = {}): Promise<number> {
    return this.lock.run(id, async () => {
      const state = await this.current(repository, id);
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
      const state = await this.current(repository, id);
      if (lastChunk) await this.appendTo(id, state, lastChunk, options);
      const actual = await this.digestOf(id, state, digest.algorithm);
      if (actual !== digest.hex) {
        throw registryError(ErrorCodes.DIGEST_INVALID, 'provided digest did not match uploaded content', {
          digest: digest.value,
        });
      }
      await this.blobs.protectForLink(digest);
      if ((await this.blobs.size(digest)) === null) {
        await this.blobs.commitFile(paths.uploadData(id), digest, state.size);
      } else {
        await this.driver.delete(paths.uploadData(id));
      }
      // file by file, which costs a few system calls; a recursive delete walks the directory first
      await this.driver.delete(paths.uploadInfo(id));
      // an object store's directory goes with its last object: asking would cost a HEAD and a LIST per upload
      if (!this.driver.implicitDirectories) await this.driver.delete(paths.upload(id));
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
      const state = await this.current(repository, id);
      await this.driver.delete(paths.upload(id));
      this.forget(id, state.info.owner);
    });
  }

  /** Removes sessions with no activity for `maxAgeMs`, and what crashed appends left in an object store; returns how many. */
  async purgeStale(maxAgeMs: number, now = Date.now()): Promise<number> {
    let purged = 0;
    const known = [...this.sessions.keys()];
    const listed = await this.driver.list(UPLOADS_ROOT);
    if (this.shared) {
      // sessions another process closed: their memory goes (one listed after `known` was taken may be new)
      const present = new Set(listed);
      for (const id of known) {
        if (!present.has(id) && !this.lock.isBusy(id)) this.forget(id, this.sessions.get(id)?.info.owner);
      }
    }
    for (const id of listed) {
      if (this.lock.isBusy(id)) continue;
      const data = await this.driver.statFile(paths.uploadData(id));
      const info = data ?? (await this.driver.statFile(paths.uploadInfo(id))) ?? (await this.driver.stat(paths.upload(id)));
      if (info && now - info.modifiedAt.getTime() > maxAgeMs) {
        await this.driver.delete(paths.upload(id));
        this.forget(id, this.sessions.get(id)?.info.owner);
        purged++;
      }
    }
    // an object store may hold bytes of appends a crash cut off, which no session names any more
    purged += (await this.driver.abortOrphanedUploads?.(UPLOADS_ROOT, maxAgeMs)) ?? 0;
    return purged;
  }

  /**
   * The session as storage has it: on shared storage another process may have appended to it (its size then
   * differs and this process's hash no longer covers the data), or closed it. Called under the session's lock.
   */
  private async current(repository: string, id: string): Promise<SessionState> {
    const cached = this.sessions.get(id);
    const state = await this.load(repository, id);
    if (!this.shared || state !== cached) return state;
    const size = await this.storedSize(id);
    if (size === null) {
      this.forget(id, state.info.owner);
      throw unknownUpload(id);
    }
    if (size !== state.size) {
      state.size = size;
      state.sha256 = null;
    }
    return state;
  }

  /**
   * bytes stored for an open session (a session holds no data file before its first byte); null once closed. Both
   * stats at once: on an object store each is a round trip, and most pushes send their bytes in one request, when
   * there is no data yet and the info decides.
   */
  private async storedSize(id: string): Promise<number | null> {
    const [data, info] = await Promise.all([this.driver.statFile(paths.uploadData(id)), this.driver.statFile(paths.uploadInfo(id))]);
    if (data) return data.size;
    return info ? 0 : null;
  }

  private atSessionCap(owner: string): boolean {
    return this.maxSessionsPerOwner > 0 && (this.openByOwner.get(owner)?.size ?? 0) >= this.maxSessionsPerOwner;
  }

  /**
   * Shared storage: the owner's sessions this process counts may have been completed or cancelled through another
   * process; those free their slots here. One check per owner and second, so a client held at the cap cannot make
   * each refused request cost a storage request per open session.
   */
  private async forgetClosedElsewhere(owner: string): Promise<void> {
    const now = Date.now();
    if (now - (this.ownerCheckedAt.get(owner) ?? 0) < OWNER_RECHECK_INTERVAL_MS) return;
    this.ownerCheckedAt.set(owner, now);
    // a session without state is still being created: its info may not be written yet
    const ids = [...(this.openByOwner.get(owner) ?? [])].filter((id) => this.sessions.has(id));
    const closed = await Promise.all(ids.map(async (id) => (await this.driver.statFile(paths.uploadInfo(id))) === null));
    ids.forEach((id, index) => {
      if (closed[index] && !this.lock.isBusy(id)) this.forget(id, owner);
    });
  }

  private async load(repository: string, id: string): Promise<SessionState> {
    if (!UUID_PATTERN.test(id)) throw unknownUpload(id);
    let state = this.sessions.get(id);
    if (!state) {
      let info: SessionInfo;
      try {
        info = JSON.parse((await this.driver.getContent(paths.uploadInfo(id))).toString('utf8')) as SessionInfo;
      } catch (error) {
        if (error instanceof PathNotFoundError || error instanceof SyntaxError) throw unknownUpload(id);
        throw error;
      }
      const size = (await this.driver.statFile(paths.uploadData(id)))?.size ?? 0;
      state = { info, size, sha256: size === 0 ? newHash('sha256') : null };
      this.sessions.set(id, state);
      if (info.owner !== undefined) this.track(id, info.owner);
    }
    if (state.info.repository !== repository) throw unknownUpload(id);
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
    if (open?.size === 0) {
      this.openByOwner.delete(owner);
      this.ownerCheckedAt.delete(owner);
    }
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

function unknownUpload(id: string) {
  return registryError(ErrorCodes.BLOB_UPLOAD_UNKNOWN, 'upload unknown', { uuid: id });
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
