// One blob on its way from an upstream into the store. The upstream's body is written into an upload session
// (hashed as it is written; moved into the blob store only once its digest verifies, by the upload store's
// commit), and every client asking for the blob meanwhile reads the session's file as it grows, so the first
// byte reaches them without waiting for the last one to arrive, and however many ask, the upstream sends it once.
import { Transform, type Readable } from 'node:stream';
import type { BlobStore } from '../content/blob-store.ts';
import type { UploadStore } from '../content/upload-store.ts';
import type { ParsedDigest } from '../oci/digest.ts';
import { PathNotFoundError, type FileReader } from '../storage/driver.ts';

export interface BlobFetchTarget {
  /** the repository (here) whose upload session receives the bytes */
  repository: string;
  digest: ParsedDigest;
  /** who owns the upload session (counts against its open-session cap) */
  owner: string;
}

/** The upstream's answer: its declared size (-1: unknown) and body; null when it has no such blob. */
export type BlobSourceOpener = () => Promise<{ size: number; body: Readable } | null>;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class BlobNotFoundUpstream extends Error {
  constructor(digest: string) {
    super(`blob ${digest} not found upstream`);
    this.name = 'BlobNotFoundUpstream';
  }
}

export class BlobFetch {
  readonly digest: ParsedDigest;
  /** the upstream's Content-Length, -1 when it sent none; known once `started` resolves */
  size = -1;
  /** bytes received from the upstream so far */
  received = 0;
  /** settles once the upstream answered: resolves when the body is on its way, rejects when there is none */
  readonly started: Promise<void>;
  /** settles once the blob is verified and in the store, or rejects (digest mismatch, upstream failure) */
  readonly done: Promise<void>;
  private readonly uploads: UploadStore;
  private readonly blobs: BlobStore;
  private readonly target: BlobFetchTarget;
  private sessionId: string | null = null;
  private settled: 'committed' | Error | null = null;
  private wake: Deferred = deferred();

  constructor(uploads: UploadStore, blobs: BlobStore, target: BlobFetchTarget, open: BlobSourceOpener, onBytes: (bytes: number) => void = () => undefined) {
    this.uploads = uploads;
    this.blobs = blobs;
    this.target = target;
    this.digest = target.digest;
    const started = deferred();
    this.started = started.promise;
    this.done = this.run(open, started, onBytes);
    // either may have no listener yet; every caller awaits them itself
    this.started.catch(() => undefined);
    this.done.catch(() => undefined);
  }

  /** A reader of the blob's bytes that waits for those not yet received (see FileReader). */
  reader(): FileReader {
    return new GrowingBlobReader(this);
  }

  /** @internal the reader's view of the fetch */
  get state(): 'committed' | Error | null {
    return this.settled;
  }

  /** @internal resolves at the next progress: bytes received, the commit or a failure */
  nextProgress(): Promise<void> {
    return this.settled ? Promise.resolve() : this.wake.promise;
  }

  /** @internal the file being written, or the stored blob once committed; null before the first byte */
  async openFile(): Promise<FileReader | null> {
    const id = this.sessionId;
    if (this.settled === 'committed') return this.blobs.open(this.digest);
    if (id === null) return null;
    try {
      return await this.uploads.openData(this.target.repository, id);
    } catch (error) {
      // not created yet, or moved into the store (committed) or removed (failed) just now: look again
      if (error instanceof PathNotFoundError || (error as { descriptor?: { code?: string } }).descriptor?.code === 'BLOB_UPLOAD_UNKNOWN') {
        return this.state === 'committed' ? this.blobs.open(this.digest) : null;
      }
      throw error;
    }
  }

  private notify(): void {
    const { resolve } = this.wake;
    this.wake = deferred();
    resolve();
  }

  private async run(open: BlobSourceOpener, started: Deferred, onBytes: (bytes: number) => void): Promise<void> {
    const { repository, digest, owner } = this.target;
    try {
      const source = await open();
      if (!source) throw new BlobNotFoundUpstream(digest.value);
      this.size = source.size;
      const session = await this.uploads.create(repository, owner).catch((error: unknown) => {
        source.body.destroy();
        throw error;
      });
      this.sessionId = session.id;
      started.resolve();
      const counting = new Transform({
        highWaterMark: 1024 * 1024,
        transform: (chunk: Buffer, _encoding, callback) => {
          this.received += chunk.length;
          onBytes(chunk.length);
          callback(null, chunk);
          this.notify();
        },
      });
      source.body.on('error', (error) => counting.destroy(error));
      source.body.pipe(counting);
      try {
        await this.uploads.complete(repository, session.id, digest, counting, source.size >= 0 ? { length: source.size } : {});
      } catch (error) {
        source.body.destroy();
        // a body that did not verify is never kept: the session and its bytes go
        await this.uploads.cancel(repository, session.id).catch(() => undefined);
        throw error;
      }
      this.settled = 'committed';
    } catch (error) {
      this.settled = error instanceof Error ? error : new Error(String(error));
      started.reject(this.settled);
      throw this.settled;
    } finally {
      this.notify();
    }
  }
}

/**
 * Reads the blob being fetched at any offset: waits for bytes not received yet, and hands out the last ones
 * only once the whole blob has verified, so a client never receives a complete body that did not verify (a
 * failed fetch makes the read throw, and the sender cuts the connection).
 */
class GrowingBlobReader implements FileReader {
  private readonly fetch: BlobFetch;
  private file: FileReader | null = null;

  constructor(fetch: BlobFetch) {
    this.fetch = fetch;
  }

  get size(): number {
    return this.fetch.size;
  }

  async read(buffer: Buffer, position: number, length: number): Promise<number> {
    for (;;) {
      const state = this.fetch.state;
      if (state instanceof Error) throw state;
      const progress = this.fetch.nextProgress();
      this.file ??= await this.fetch.openFile();
      const read = this.file ? await this.file.read(buffer, position, length) : 0;
      if (read > 0) {
        if (position + read >= this.fetch.size && this.fetch.state !== 'committed') await this.fetch.done;
        return read;
      }
      if (this.fetch.state === 'committed' && this.file) {
        // everything is written: nothing more at this offset means there is nothing more
        if (position >= this.fetch.size) return 0;
        throw new Error(`blob ${this.fetch.digest.value} ended at ${position} of ${this.fetch.size} bytes`);
      }
      await progress;
    }
  }

  async close(): Promise<void> {
    await this.file?.close();
  }
}
