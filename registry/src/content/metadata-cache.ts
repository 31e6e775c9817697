// Small metadata files (tag → digest, manifest records) kept parsed in memory. A read costs several filesystem
// calls, a stat one, a memory lookup none. When this process is the only writer of the storage, its own writes
// go through write() and memory is the truth; when replicas share the volume, any of them may replace a file
// at any time, so a cached value is used only while one stat shows the file's version (FileInfo.version) unchanged.
import type { StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError } from '../storage/driver.ts';
import { KeyedLock } from '../storage/keyed-lock.ts';

export interface MetadataCacheOptions {
  maxEntries: number;
  /** other processes write the storage too: revalidate every hit with a stat */
  shared: boolean;
}

export class MetadataCache<T> {
  private readonly driver: StorageDriver;
  private readonly maxEntries: number;
  private readonly shared: boolean;
  /** path → the parsed content and the version it was read at; oldest use first */
  private readonly entries = new Map<string, { version: string; value: T }>();
  /** counts writes: a read that overlapped one must not cache what it read, it may be the old content */
  private writes = 0;
  /** writes of one path, one at a time, so memory ends up with the content that reached the storage last */
  private readonly writeLock = new KeyedLock();

  constructor(driver: StorageDriver, options: MetadataCacheOptions) {
    this.driver = driver;
    this.maxEntries = options.maxEntries;
    this.shared = options.shared;
  }

  /**
   * The parsed file, or null when it does not exist. Callers share the value: they must not change it.
   * `knownToExist`: the caller knows the file exists and that its content never changes (a manifest record a
   * current tag names), so a cached copy is served without a stat even on shared storage.
   */
  async read(path: string, options: { knownToExist?: boolean } = {}): Promise<T | null> {
    if (!this.shared || options.knownToExist) {
      const cached = this.use(path);
      return cached ? cached.value : this.load(path, () => this.contentAt(path, ''));
    }
    // nothing to revalidate: where one request gives content and version (an object store's GET), no stat first
    if (!this.entries.has(path) && this.driver.getVersionedContent) return this.load(path, () => this.driver.getVersionedContent!(path));
    // statFile: an object store answers it with one request where stat of a missing file also lists
    const info = await this.driver.statFile(path);
    if (!info) {
      this.entries.delete(path);
      return null;
    }
    const cached = this.use(path);
    if (cached && cached.version === info.version) return cached.value;
    // If the file was replaced between the stat and the read, this pairs newer content with the older version:
    // the next stat sees another version and reads again, so a stale value is never served.
    return this.load(path, () => this.contentAt(path, info.version));
  }

  /**
   * Every write and delete of this process goes through here: `change` replaces or deletes the file, and memory
   * then holds `value` (null: nothing), so a push is served from memory at once. With shared storage memory holds
   * nothing either: the next read revalidates, another replica may have written meanwhile.
   */
  async write(path: string, value: T | null, change: () => Promise<void>): Promise<void> {
    await this.writeLock.run(path, async () => {
      try {
        await change();
      } finally {
        this.writes++;
        this.entries.delete(path);
      }
      if (value !== null && !this.shared) this.store(path, '', value);
    });
  }

  /** the cached entry, marked as most recently used */
  private use(path: string): { version: string; value: T } | undefined {
    const cached = this.entries.get(path);
    if (cached) {
      this.entries.delete(path);
      this.entries.set(path, cached);
    }
    return cached;
  }

  /** reads and parses the file; memory keeps it unless a write of this process overlapped the read */
  private async load(path: string, read: () => Promise<{ content: Buffer; version: string } | null>): Promise<T | null> {
    const writesBefore = this.writes;
    const found = await read();
    if (!found) return null;
    const value = JSON.parse(found.content.toString('utf8')) as T;
    if (this.writes === writesBefore) this.store(path, found.version, value);
    return value;
  }

  /** the file's content, to be remembered at `version`; null when it does not exist */
  private async contentAt(path: string, version: string): Promise<{ content: Buffer; version: string } | null> {
    try {
      return { content: await this.driver.getContent(path), version };
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
  }

  private store(path: string, version: string, value: T): void {
    this.entries.set(path, { version, value });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
