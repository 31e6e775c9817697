// Filesystem implementation of the storage driver.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidPathError, PathNotFoundError, SizeMismatchError,
  type ByteRange, type FileInfo, type StorageDriver,
} from './driver.ts';

const TEMPORARY_DIR = '.tmp';

/** Large buffers: a 64 KiB default halves throughput on multi-GiB layers. */
export const STREAM_BUFFER_BYTES = 1024 * 1024;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class FilesystemDriver implements StorageDriver {
  readonly root: string;

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
      return { path, size: s.size, modifiedAt: s.mtime, isDirectory: s.isDirectory() };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.resolve(path));
    } catch (error) {
      if (isMissing(error)) throw new PathNotFoundError(path);
      throw error;
    }
  }

  async putContent(path: string, content: Buffer | string): Promise<void> {
    const target = this.resolve(path);
    await mkdir(dirname(target), { recursive: true });
    // temporaries live apart so that a listing of the target directory never shows a half-written name
    const temporary = join(this.root, TEMPORARY_DIR, randomBytes(8).toString('hex'));
    await mkdir(dirname(temporary), { recursive: true });
    try {
      const handle = await open(temporary, 'w');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, target);
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

  async append(path: string, source: Readable, expectedLength?: number): Promise<number> {
    const file = this.resolve(path);
    await mkdir(dirname(file), { recursive: true });
    const startSize = (await stat(file).catch(() => null))?.size ?? 0;
    const sink = createWriteStream(file, { flags: 'a', highWaterMark: STREAM_BUFFER_BYTES });
    try {
      await pipeline(source, sink);
      const received = sink.bytesWritten;
      if (expectedLength !== undefined && received !== expectedLength) {
        throw new SizeMismatchError(expectedLength, received);
      }
      return startSize + received;
    } catch (error) {
      await truncate(file, startSize).catch(() => undefined);
      throw error;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.resolve(from);
    const target = this.resolve(to);
    const handle = await open(source, 'r+').catch((error: unknown) => {
      if (isMissing(error)) throw new PathNotFoundError(from);
      throw error;
    });
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await mkdir(dirname(target), { recursive: true });
    await rename(source, target);
    const directory = await open(dirname(target), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      return await readdir(this.resolve(path));
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  async delete(path: string): Promise<void> {
    await rm(this.resolve(path), { recursive: true, force: true });
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
