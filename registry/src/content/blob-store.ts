// The global content-addressed blob store. A blob becomes visible only by an atomic rename of a file whose
// digest was verified, so no reader can ever see partial or corrupt content under a digest.
import type { FileReader, StorageDriver } from '../storage/driver.ts';
import { digestOf, type ParsedDigest, tryParseDigest } from '../oci/digest.ts';
import { paths } from './paths.ts';
import { GcGuard } from '../gc/guard.ts';

export class BlobStore {
  private readonly driver: StorageDriver;
  /** coordination with an online garbage collection (see gc/guard.ts) */
  readonly guard: GcGuard;
  /**
   * Bytes of all stored blobs, kept current by this process's writes and deletions after one walk of the store;
   * null until that walk is done. Other replicas' writes are seen at the next walk.
   */
  private storedBytes: number | null = null;

  constructor(driver: StorageDriver, guard = new GcGuard()) {
    this.driver = driver;
    this.guard = guard;
  }

  /** Call before relying on a blob's existence: keeps a running garbage collection from removing it. */
  protect(digest: ParsedDigest): Promise<void> {
    return this.guard.protect(digest.value);
  }

  /**
   * Call before checking that the digests a record will reference exist; keeps every garbage collection from
   * removing them until the returned release is called, after the record is written (see gc/guard.ts).
   */
  hold(digests: Iterable<string>): Promise<() => void> {
    return this.guard.hold(digests);
  }

  /** size in bytes, or null when the blob is not stored */
  async size(digest: ParsedDigest): Promise<number | null> {
    const info = await this.driver.stat(paths.blob(digest));
    return info && !info.isDirectory ? info.size : null;
  }

  async stat(digest: ParsedDigest): Promise<{ size: number; modifiedAt: Date } | null> {
    const info = await this.driver.stat(paths.blob(digest));
    return info && !info.isDirectory ? { size: info.size, modifiedAt: info.modifiedAt } : null;
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

  /** bytes of all stored blobs, or null before the first walk (see measureStoredBytes) */
  get bytesStored(): number | null {
    return this.storedBytes;
  }

  /** Walks the store once to learn its size; later writes and deletions keep the figure current. */
  async measureStoredBytes(): Promise<number> {
    let total = 0;
    for await (const digest of this.digests()) total += (await this.size(digest)) ?? 0;
    this.storedBytes = total;
    return total;
  }

  private account(delta: number): void {
    if (this.storedBytes !== null) this.storedBytes = Math.max(0, this.storedBytes + delta);
  }

  /** Every stored digest, for garbage collection; walks the store in its fan-out order. */
  async *digests(): AsyncGenerator<ParsedDigest> {
    for (const algorithm of await this.driver.list('blobs')) {
      for (const prefix of await this.driver.list(`blobs/${algorithm}`)) {
        for (const hex of await this.driver.list(`blobs/${algorithm}/${prefix}`)) {
          const digest = tryParseDigest(`${algorithm}:${hex}`);
          if (digest) yield digest;
        }
      }
    }
  }
}
