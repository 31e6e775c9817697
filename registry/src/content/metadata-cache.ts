// Small metadata files (tag → digest, manifest records) kept parsed in memory. A read costs several filesystem
// calls, a stat one, a memory lookup none. When this process is the only writer of the storage, its own writes
// forget what they replace and memory is the truth; when replicas share the volume, any of them may replace a file
// at any time, so a cached value is used only while one stat shows the file's version (FileInfo.version) unchanged.
import type { StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError } from '../storage/driver.ts';

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
  /** counts forget() calls: a read that overlapped a write must not cache what it read, it may be the old content */
  private writes = 0;

  constructor(driver: StorageDriver, options: MetadataCacheOptions) {
    this.driver = driver;
    this.maxEntries = options.maxEntries;
    this.shared = options.shared;
  }

  /** The parsed file, or null when it does not exist. Callers share the value: they must not change it. */
  async read(path: string): Promise<T | null> {
    if (!this.shared) {
      const cached = this.use(path);
      return cached ? cached.value : this.load(path, '');
    }
    const info = await this.driver.stat(path);
    if (!info || info.isDirectory) {
      this.entries.delete(path);
      return null;
    }
    const cached = this.use(path);
    if (cached && cached.version === info.version) return cached.value;
    // If the file was replaced between the stat and the read, this pairs newer content with the older version:
    // the next stat sees another version and reads again, so a stale value is never served.
    return this.load(path, info.version);
  }

  /** called by every write and delete of this process, once the file is replaced or gone */
  forget(path: string): void {
    this.writes++;
    this.entries.delete(path);
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

  private async load(path: string, version: string): Promise<T | null> {
    const writesBefore = this.writes;
    let content: Buffer;
    try {
      content = await this.driver.getContent(path);
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
    const value = JSON.parse(content.toString('utf8')) as T;
    if (this.writes !== writesBefore) return value;
    this.entries.set(path, { version, value });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}
