// The global content-addressed blob store. A blob becomes visible only by an atomic rename of a file whose
// digest was verified, so no reader can ever see partial or corrupt content under a digest.
import type { FileReader, StorageDriver } from '../storage/driver.ts';
import { digestOf, type ParsedDigest, tryParseDigest } from '../oci/digest.ts';
import { BLOBS_ROOT, paths } from './paths.ts';
import { StorageFence, type FenceHold } from './gc-fence.ts';
import { GcGuard } from './gc-guard.ts';
import { forEachConcurrently } from '../storage/parallel.ts';

export interface BlobStoreOptions {
  /** other processes write the same storage (storage.shared): GC protections also go through gc-fence.ts */
  shared?: boolean;
}

export interface BlobInfo {
  size: number;
  modifiedAt: Date;
}

/** a blob found by a walk of the store; `info` costs no request when the listing gave size and time */
export interface StoredBlob {
  digest: ParsedDigest;
  info(): Promise<BlobInfo | null>;
}

/** A hold on digests across every process sharing the storage (see BlobStore.holdReferences). */
export interface ReferenceHold {
  /** Throws UNAVAILABLE once the hold is too old to be relied on: call just before writing the record. */
  assertFresh(): void;
  /** Ends the hold; its storage part finishes in the background, and never rejects. */
  release(): Promise<void>;
}

/** an object store lists this many keys a request (S3's page): a store no larger is walked in one listing */
const FLAT_WALK_MAX_BLOBS = 1000;

export class BlobStore {
  private readonly driver: StorageDriver;
  /** coordination with an online garbage collection in this process (see content/gc-guard.ts) */
  readonly guard: GcGuard;
  /** the same across processes sharing the storage (see gc-fence.ts); null when this process is the only one */
  readonly fence: StorageFence | null;
  /**
   * Bytes of all stored blobs, kept current by this process's writes and deletions after one walk of the store;
   * null until that walk is done. Other replicas' writes are seen at the next walk.
   */
  private storedBytes: number | null = null;

  constructor(driver: StorageDriver, options: BlobStoreOptions = {}) {
    this.driver = driver;
    this.guard = new GcGuard();
    this.fence = options.shared ? new StorageFence(driver) : null;
  }

  /**
   * Call before relying on a blob's existence: keeps a garbage collection running in this process from removing
   * it. Costs no storage request, so blob HEAD and GET use it; a new link to the blob wants protectForLink.
   */
  protect(digest: ParsedDigest): Promise<void> {
    return this.guard.protect(digest.value);
  }

  /**
   * protect(), and on shared storage the same against a collection running in another process (one listing of
   * the fence's runs; a hold only while one runs). Call before checking that a blob exists when the answer leads
   * to a new link to it: an upload's commit, a mount.
   */
  async protectForLink(digest: ParsedDigest): Promise<void> {
    await this.guard.protect(digest.value);
    await this.fence?.protect(digest.value);
  }

  /**
   * Call before checking that the digests a record will reference exist; keeps every garbage collection of this
   * process from removing them until the returned release is called (see content/gc-guard.ts).
   */
  hold(digests: Iterable<string>): Promise<() => void> {
    return this.guard.hold(digests);
  }

  /**
   * hold(), and on shared storage the same against collections in other processes (gc-fence.ts). Call before
   * checking that the digests a record will reference exist; release once the record is written.
   */
  async holdReferences(digests: Iterable<string>): Promise<ReferenceHold> {
    const unique = [...new Set(digests)];
    const release = await this.guard.hold(unique);
    let held: FenceHold | undefined;
    try {
      held = await this.fence?.hold(unique);
    } catch (error) {
      release();
      throw error;
    }
    return {
      assertFresh: () => held?.assertFresh(),
      release: async () => {
        release();
        await held?.release();
      },
    };
  }

  /** size in bytes, or null when the blob is not stored */
  async size(digest: ParsedDigest): Promise<number | null> {
    return (await this.driver.statFile(paths.blob(digest)))?.size ?? null;
  }

  async stat(digest: ParsedDigest): Promise<BlobInfo | null> {
    const info = await this.driver.statFile(paths.blob(digest));
    return info ? { size: info.size, modifiedAt: info.modifiedAt } : null;
  }

  /** for sending a blob to a client; throws PathNotFoundError */
  open(digest: ParsedDigest): Promise<FileReader> {
    return this.driver.open(paths.blob(digest));
  }

  getContent(digest: ParsedDigest): Promise<Buffer> {
    return this.driver.getContent(paths.blob(digest));
  }

  /** Stores small content (a manifest) under its digest; a no-op when it is already there. */
  async putContent(content: Buffer, digest: ParsedDigest): Promise<void> {
    if ((await this.size(digest)) === content.length) return;
    if (digestOf(content, digest.algorithm) !== digest.value) throw new Error('content does not match digest');
    await this.driver.putContent(paths.blob(digest), content);
    this.account(content.length);
  }

  /** Moves a verified upload into place. Two uploads of one blob may race here: both renames carry equal bytes. */
  async commitFile(verifiedPath: string, digest: ParsedDigest, size: number): Promise<void> {
    await this.driver.move(verifiedPath, paths.blob(digest));
    this.account(size);
  }

  /** `knownSize`: the size the caller just read (a sweep's stat), which spares a second stat */
  async delete(digest: ParsedDigest, knownSize?: number): Promise<void> {
    const size = knownSize ?? (await this.size(digest));
    await this.driver.delete(paths.blob(digest));
    if (size !== null) this.account(-size);
  }

  /** Deletes many blobs of known sizes: in bulk requests where the storage has them, else `concurrency` at once. */
  async deleteMany(blobs: Array<{ digest: ParsedDigest; size: number }>, concurrency: number): Promise<void> {
    if (this.driver.deleteFiles) {
      await this.driver.deleteFiles(blobs.map(({ digest }) => paths.blob(digest)));
      for (const { size } of blobs) this.account(-size);
      return;
    }
    await forEachConcurrently(blobs, concurrency, ({ digest, size }) => this.delete(digest, size));
  }

  /** bytes of all stored blobs, or null before the first walk (see measureStoredBytes) */
  get bytesStored(): number | null {
    return this.storedBytes;
  }

  /** Walks the store once to learn its size; later writes and deletions keep the figure current. */
  async measureStoredBytes(): Promise<number> {
    let total = 0;
    for await (const shard of this.shards()) {
      for await (const blob of shard()) total += (await blob.info())?.size ?? 0;
    }
    this.storedBytes = total;
    return total;
  }

  private account(delta: number): void {
    if (this.storedBytes !== null) this.storedBytes = Math.max(0, this.storedBytes + delta);
  }

  /**
   * Every stored blob, for garbage collection and the storage walk, in shards (the fan-out directories,
   * `blobs/sha256/ab`) that may be walked at once: an object store lists one page after another, so a single
   * listing of the store would make a walk wait for every page in turn. Each shard is consumed as it is listed,
   * never held whole: with a flat listing where the storage offers one (an object store: sizes and times, a
   * thousand a request), else by directory, with a stat when `info` is asked.
   */
  async *shards(): AsyncGenerator<() => AsyncIterable<StoredBlob>> {
    for (const algorithm of await this.driver.list(BLOBS_ROOT)) {
      const root = `${BLOBS_ROOT}/${algorithm}`;
      // a small store fits one page of a flat listing: one request, where a walk by shard costs one per shard
      const small = this.driver.listFiles ? await this.allIfFew(root, algorithm) : null;
      if (small) {
        yield async function* () { yield* small; };
        continue;
      }
      for (const prefix of await this.driver.list(root)) {
        yield () => this.storedIn(`${root}/${prefix}`, algorithm);
      }
    }
  }

  /** the blobs under `root` from a flat listing, or null once there are more than one listing page holds */
  private async allIfFew(root: string, algorithm: string): Promise<StoredBlob[] | null> {
    const found: StoredBlob[] = [];
    for await (const blob of this.storedIn(root, algorithm)) {
      if (found.length === FLAT_WALK_MAX_BLOBS) return null;
      found.push(blob);
    }
    return found;
  }

  private async *storedIn(directory: string, algorithm: string): AsyncGenerator<StoredBlob> {
    if (this.driver.listFiles) {
      for await (const file of this.driver.listFiles(directory)) {
        const digest = tryParseDigest(`${algorithm}:${file.path.slice(file.path.lastIndexOf('/') + 1)}`);
        if (!digest || paths.blob(digest) !== file.path) continue;
        const info = { size: file.size, modifiedAt: file.modifiedAt };
        yield { digest, info: async () => info };
      }
      return;
    }
    for (const hex of await this.driver.list(directory)) {
      const digest = tryParseDigest(`${algorithm}:${hex}`);
      if (digest) yield { digest, info: () => this.stat(digest) };
    }
  }
}
