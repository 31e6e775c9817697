// Filesystem implementation of the storage driver.
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidPathError, PathNotFoundError, SizeMismatchError, type FileReader,
  type ByteRange, type FileInfo, type StorageDriver,
} from './driver.ts';

const TEMPORARY_DIR = '.tmp';

/** Large buffers: a 64 KiB default halves throughput on multi-GiB layers. */
export const STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * Bytes appended to a file after which its writeback to disk is started in the background. The kernel would
 * otherwise keep a whole layer dirty in memory until the fsync that makes it durable, and that fsync would then
 * write it all while the client waits; started early, the disk works while the network still delivers.
 */
export const WRITEBACK_BYTES = 16 * 1024 * 1024;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Appends to an open file, reporting progress so that writeback can start while the upload goes on. */
class AppendSink extends Writable {
  bytesWritten = 0;
  private readonly handle: FileHandle;
  private readonly onWritten: (bytes: number) => void;

  constructor(handle: FileHandle, onWritten: (bytes: number) => void) {
    super({ highWaterMark: STREAM_BUFFER_BYTES });
    this.handle = handle;
    this.onWritten = onWritten;
  }

  /** the write under way, which a rollback must wait for: it would land after the truncation otherwise */
  private inFlight: Promise<void> = Promise.resolve();

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.inFlight = this.writeAll(chunks.map(({ chunk }) => chunk));
    this.inFlight.then(() => callback(), callback);
  }

  settled(): Promise<void> {
    return this.inFlight.catch(() => undefined);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await this.handle.writev(pending);
      this.bytesWritten += bytesWritten;
      this.onWritten(bytesWritten);
      pending = skipBytes(pending, bytesWritten);
    }
  }
}

/** A rename that creates the target's directory when it is missing: most targets' directories exist already. */
async function renameCreatingParent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
  }
}

/** what is left of `buffers` once the first `count` bytes are written (a short writev) */
function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
    } else {
      rest.push(left > 0 ? buffer.subarray(left) : buffer);
      left = 0;
    }
  }
  return rest;
}

export class FilesystemDriver implements StorageDriver {
  readonly root: string;
  readonly implicitDirectories = false;
  /** files whose writeback runs in the background: the flush in flight, and whether more was written since */
  private readonly writebacks = new Map<string, { done: Promise<void>; again: boolean }>();

  constructor(root: string) {
    this.root = root;
  }

  private resolve(path: string): string {
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.some((p) => p === '..' || p === '.' || p.includes('\0'))) throw new InvalidPathError(path);
    return join(this.root, ...parts);
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const s = await stat(this.resolve(path));
      return {
        path, size: s.size, modifiedAt: s.mtime, isDirectory: s.isDirectory(), version: `${s.ino}-${s.mtimeMs}-${s.size}`,
      };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async statFile(path: string): Promise<FileInfo | null> {
    const info = await this.stat(path);
    return info && !info.isDirectory ? info : null;
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.resolve(path));
    } catch (error) {
      // a directory holds no content: no file is at its path, as on an object store
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') throw new PathNotFoundError(path);
      throw error;
    }
  }

  async putContent(path: string, content: Buffer | string, options: { durable?: boolean } = {}): Promise<void> {
    const target = this.resolve(path);
    // temporaries live apart so that a listing of the target directory never shows a half-written name
    const temporary = join(this.root, TEMPORARY_DIR, randomBytes(8).toString('hex'));
    try {
      const handle = await open(temporary, 'w').catch(async (error: unknown) => {
        // the temporaries' directory is made at start-up (openFilesystemDriver); a bare driver makes it here
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(dirname(temporary), { recursive: true });
        return open(temporary, 'w');
      });
      try {
        await handle.writeFile(content);
        if (options.durable !== false) await handle.sync();
      } finally {
        await handle.close();
      }
      await renameCreatingParent(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async reader(path: string, range?: ByteRange): Promise<Readable> {
    const file = this.resolve(path);
    // open first so a missing file is an error here, not an 'error' event on a stream already handed out
    const handle = await open(file, 'r').catch((error: unknown) => {
      if (isMissing(error)) throw new PathNotFoundError(path);
      throw error;
    });
    return createReadStream(file, {
      fd: handle,
      highWaterMark: STREAM_BUFFER_BYTES,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async open(path: string): Promise<FileReader> {
    const handle = await open(this.resolve(path), 'r').catch((error: unknown) => {
      if (isMissing(error)) throw new PathNotFoundError(path);
      throw error;
    });
    try {
      const { size } = await handle.stat();
      return {
        size,
        read: async (buffer, position, length) => (await handle.read(buffer, 0, length, position)).bytesRead,
        close: () => handle.close(),
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async append(path: string, source: Readable, expectedLength?: number): Promise<number> {
    const file = this.resolve(path);
    const handle = await open(file, 'a').catch(async (error: unknown) => {
      // the first chunk of an upload whose directory is not there yet; later ones find it
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdir(dirname(file), { recursive: true });
      return open(file, 'a');
    });
    const startSize = (await handle.stat()).size;
    let dirty = 0;
    const sink = new AppendSink(handle, (bytes) => {
      dirty += bytes;
      if (dirty >= WRITEBACK_BYTES) {
        dirty = 0;
        this.startWriteback(file);
      }
    });
    try {
      await pipeline(source, sink);
      const received = sink.bytesWritten;
      if (expectedLength !== undefined && received !== expectedLength) {
        throw new SizeMismatchError(expectedLength, received);
      }
      if (dirty > 0 && startSize + received >= WRITEBACK_BYTES) this.startWriteback(file);
      return startSize + received;
    } catch (error) {
      await sink.settled();
      await handle.truncate(startSize).catch(() => undefined);
      throw error;
    } finally {
      await handle.close();
    }
  }

  /**
   * Flushes a file's dirty pages without anyone waiting for it; one flush per file at a time, and one more if
   * bytes arrived meanwhile. Through a handle of its own, so the appender can close its handle at any time.
   */
  private startWriteback(file: string): void {
    const running = this.writebacks.get(file);
    if (running) {
      running.again = true;
      return;
    }
    const entry = { done: Promise.resolve(), again: true };
    const flush = async () => {
      while (entry.again) {
        entry.again = false;
        const handle = await open(file, 'r');
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
    };
    // a failed background flush loses nothing: the fsync in move() is what makes the file durable
    entry.done = flush().catch(() => undefined).finally(() => this.writebacks.delete(file));
    this.writebacks.set(file, entry);
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.resolve(from);
    const target = this.resolve(to);
    await this.writebacks.get(source)?.done;
    const handle = await open(source, 'r+').catch((error: unknown) => {
      if (isMissing(error)) throw new PathNotFoundError(from);
      throw error;
    });
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameCreatingParent(source, target);
    const directory = await open(dirname(target), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  async list(path: string, page?: { after?: string; limit?: number }): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.resolve(path));
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    if (!page) return names;
    const after = page.after;
    const sorted = names.sort().filter((name) => after === undefined || name > after);
    return page.limit === undefined ? sorted : sorted.slice(0, page.limit);
  }

  async delete(path: string): Promise<void> {
    const target = this.resolve(path);
    // One system call for a file or an empty directory (most deletions); a recursive walk only for the rest.
    try {
      await unlink(target);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isMissing(error)) return;
      if (code !== 'EISDIR' && code !== 'EPERM') throw error;
    }
    try {
      await rmdir(target);
    } catch (error) {
      if (isMissing(error)) return;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await rm(target, { recursive: true, force: true });
    }
  }
}

/** Temporaries older than this were left by a crash; younger ones may belong to another replica's write. */
const ABANDONED_TEMPORARY_MS = 60 * 60 * 1000;

/** Creates the root if needed, so a fresh volume works, and drops temporaries a crash left behind. */
export async function openFilesystemDriver(root: string): Promise<FilesystemDriver> {
  const temporaries = join(root, TEMPORARY_DIR);
  await mkdir(temporaries, { recursive: true });
  for (const name of await readdir(temporaries)) {
    const info = await stat(join(temporaries, name)).catch(() => null);
    if (info && Date.now() - info.mtimeMs > ABANDONED_TEMPORARY_MS) await rm(join(temporaries, name), { force: true });
  }
  return new FilesystemDriver(root);
}
