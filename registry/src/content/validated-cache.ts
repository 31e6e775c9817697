// Small metadata files (tag → digest, manifest records) read through a cache that one stat revalidates. A read
// costs several filesystem calls and a stat one, and replicas sharing the volume may replace a file at any time,
// so a cached value is used only while the file's version (see FileInfo.version) is the one it was read at.
import type { StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError } from '../storage/driver.ts';

export class ValidatedJsonCache<T> {
  private readonly driver: StorageDriver;
  private readonly maxEntries: number;
  /** path → the parsed content and the version it was read at; oldest use first */
  private readonly entries = new Map<string, { version: string; value: T }>();

  constructor(driver: StorageDriver, maxEntries: number) {
    this.driver = driver;
    this.maxEntries = maxEntries;
  }

  /** The parsed file, or null when it does not exist. Callers share the value: they must not change it. */
  async read(path: string): Promise<T | null> {
    const info = await this.driver.stat(path);
    if (!info || info.isDirectory) {
      this.entries.delete(path);
      return null;
    }
    const cached = this.entries.get(path);
    if (cached && cached.version === info.version) {
      this.entries.delete(path);
      this.entries.set(path, cached);
      return cached.value;
    }
    let content: Buffer;
    try {
      content = await this.driver.getContent(path);
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
    const value = JSON.parse(content.toString('utf8')) as T;
    // If the file was replaced between the stat and the read, this pairs newer content with the older version:
    // the next stat sees another version and reads again, so a stale value is never served.
    this.entries.set(path, { version: info.version, value });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  forget(path: string): void {
    this.entries.delete(path);
  }
}
