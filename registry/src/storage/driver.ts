// The one storage interface everything above it speaks, after distribution's storage driver. Paths are
// slash-separated, relative to the driver's root, and never contain `..`. Implementations: a directory
// (filesystem.ts) and an S3-compatible bucket (s3.ts); both pass driver.suite.ts.
import type { Readable } from 'node:stream';

export interface FileInfo {
  path: string;
  size: number;
  /**
   * An object store keeps no times for directories (they are only key prefixes): there a directory's
   * modifiedAt is the time of the stat and its version differs on every stat, so a cache keyed on a
   * directory's time or version never hits (RepositoryStore.listTags then lists every time).
   */
  modifiedAt: Date;
  isDirectory: boolean;
  /**
   * Changes whenever the content is replaced (an object store's ETag; inode, mtime and size on a filesystem), so a
   * cached copy of small content can be revalidated with one stat instead of a read.
   */
  version: string;
}

export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive */
  end: number;
}

/** Random access to one file's bytes, for a sender that reads into buffers it reuses (see http/file-sender.ts). */
export interface FileReader {
  readonly size: number;
  /** reads up to `length` bytes at `position` into the start of `buffer`; 0 at the end of the file */
  read(buffer: Buffer, position: number, length: number): Promise<number>;
  close(): Promise<void>;
}

export interface StorageDriver {
  /** null when nothing is at the path */
  stat(path: string): Promise<FileInfo | null>;
  /**
   * stat of a path the caller knows names a file if anything (a blob, an upload's data): null when no file is
   * there, a directory being no file. An object store answers it with one request (a HEAD), where stat of a
   * missing file also lists, to tell a directory.
   */
  statFile(path: string): Promise<FileInfo | null>;
  /** small content (metadata, manifests); throws PathNotFoundError, also for a directory's path */
  getContent(path: string): Promise<Buffer>;
  /**
   * replaces the file atomically: readers see the old content or the new (a filesystem writes a temporary file,
   * fsyncs it and renames it into place). `durable: false` skips the fsync, for bookkeeping a power cut may lose
   * (an upload session is started again).
   */
  putContent(path: string, content: Buffer | string, options?: { durable?: boolean }): Promise<void>;
  /** streams a file or a byte range of it; throws PathNotFoundError */
  reader(path: string, range?: ByteRange): Promise<Readable>;
  /** opens a file for random-access reads (large content sent to clients); throws PathNotFoundError */
  open(path: string): Promise<FileReader>;
  /**
   * Appends everything `source` yields to the file (created if absent) and returns the new size. All or nothing:
   * when the source fails, or its length differs from `expectedLength`, the file is truncated back and the error
   * rethrown (SizeMismatchError for a wrong length). Another driver instance on the same storage (another
   * replica) may make the next append; between appends the file is readable (stat, reader, open) at its size.
   */
  append(path: string, source: Readable, expectedLength?: number): Promise<number>;
  /**
   * durably renames a file into place (fsync of the file and of the target directory); overwrites. Appended files
   * are written back to disk in the background as they grow, so this final fsync has little left to do.
   */
  move(from: string, to: string): Promise<void>;
  /**
   * names of the direct children of a directory, each once; [] when it does not exist. With `page`: sorted as
   * strings (`v1` before `v1-rc`, though an object store lists the sub-prefix `v1/` after `v1-rc/`), only those
   * after `page.after`, at most `page.limit` of them (an object store then lists about that much).
   */
  list(path: string, page?: { after?: string; limit?: number }): Promise<string[]>;
  /**
   * true for an object store, where a directory is only the common prefix of the objects under it: it exists while
   * one does, needs no removal of its own, and has no stat that changes with its entries. false for a filesystem,
   * whose directory mtime changes exactly when its entries do, so a cached listing is revalidated with one stat.
   */
  readonly implicitDirectories: boolean;
  /** removes a file or a whole directory; no error when absent */
  delete(path: string): Promise<void>;

  // Optional: what an object store offers beyond a filesystem.

  /**
   * Every file below `path`, at any depth, with its size and time, in no particular order; directories are not
   * listed. An object store answers from its flat listing (S3 ListObjectsV2 without a delimiter: 1000 keys with
   * Size and LastModified a request), so a walk of the blob store costs one request per thousand blobs instead of
   * a listing per directory and a stat per blob. FileInfo.path is the full path (e.g. `blobs/sha256/ab/ab12...`).
   * A file being appended is listed with the size of what stores it, not its appended size: walk blobs with it,
   * stat upload data.
   */
  listFiles?(path: string): AsyncIterable<FileInfo>;
  /**
   * Removes files that were never appended (blobs; an appended file's leftovers would wait for
   * abortOrphanedUploads), never directories; absent ones are no error. An object store removes up to 1000 a
   * request (S3 DeleteObjects); throws when any could not be removed.
   */
  deleteFiles?(paths: string[]): Promise<void>;

  /**
   * getContent and the version a stat would show for what was read, in one request (an object store's GET carries
   * the ETag); null when no file is there. A cache reading a file it holds nothing of needs no stat first.
   * A version that cannot be told is '' (it matches no stat).
   */
  getVersionedContent?(path: string): Promise<{ content: Buffer; version: string } | null>;
  /** a URL from which a client can GET the file directly, for that long (an S3 presigned GET) */
  redirectUrl?(path: string, expiresInSeconds: number): Promise<string>;
  /** throws when the storage cannot be reached; the message names where, never a credential (readiness) */
  check?(): Promise<void>;
  /**
   * Removes what appends interrupted by a crash left under `path` (S3: multipart uploads never completed nor
   * aborted) begun more than `olderThanMs` ago, that no file refers to; returns how many (the upload purge).
   */
  abortOrphanedUploads?(path: string, olderThanMs: number): Promise<number>;
}

export class PathNotFoundError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
    this.path = path;
  }
}

export class SizeMismatchError extends Error {
  readonly expected: number;
  readonly received: number;
  constructor(expected: number, received: number) {
    super(`expected ${expected} bytes, received ${received}`);
    this.name = 'SizeMismatchError';
    this.expected = expected;
    this.received = received;
  }
}

export class InvalidPathError extends Error {
  constructor(path: string) {
    super(`invalid storage path: ${JSON.stringify(path)}`);
    this.name = 'InvalidPathError';
  }
}
