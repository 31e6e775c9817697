// Copies one blob between two stores (the registry's and a backup's share the blob layout), streamed and verified
// on the way: the bytes are hashed as they pass, into a temporary file that is moved under the digest only when
// the hash and the size match, so neither side ever holds a layer in memory nor a corrupt blob under a digest.
import { Readable, Transform } from 'node:stream';
import { paths } from '../content/paths.ts';
import { newHash, type ParsedDigest } from '../oci/digest.ts';
import { BackupError } from './errors.ts';
import { PathNotFoundError, SizeMismatchError, type FileReader, type StorageDriver } from '../storage/driver.ts';

/** bytes read from a store per call: large reads keep an object store's requests few (see STYLE: 256 KiB-1 MiB) */
const READ_CHUNK_BYTES = 1024 * 1024;

export type CopyOutcome = { copied: true; size: number } | { copied: false; size: number };

export interface BlobCopier {
  /** the blob's bytes from the source; throws PathNotFoundError when it has none */
  read: (digest: ParsedDigest) => Promise<Readable>;
  to: StorageDriver;
  /** a fresh temporary path in `to`, where leftovers of crashed copies are cleaned */
  temporary: () => string;
  /** called once a temporary path is no longer used (moved or deleted), e.g. to remove its directory */
  release?: (temporary: string) => Promise<void>;
}

/** a store's blobs as a source: the driver's own stream */
export function readFromDriver(driver: StorageDriver): BlobCopier['read'] {
  return (digest) => driver.reader(paths.blob(digest));
}

/**
 * A stream over a FileReader (what BlobStore.open gives), read a chunk at a time as the consumer asks for more,
 * so a large layer never sits in memory; the file is closed when the stream ends or is destroyed.
 */
export function streamOf(file: FileReader): Readable {
  let position = 0;
  return new Readable({
    highWaterMark: READ_CHUNK_BYTES,
    read() {
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      file.read(buffer, position, READ_CHUNK_BYTES).then((read) => {
        position += read;
        this.push(read === 0 ? null : buffer.subarray(0, read));
      }, (error: unknown) => this.destroy(error as Error));
    },
    destroy(error, done) {
      file.close().then(() => done(error), () => done(error));
    },
  });
}

/**
 * Makes `to` hold the blob as `from` does. A blob already there with the expected size is not copied again
 * (content addressing: same digest and size, same bytes). `where` names what needs the blob, for the error.
 */
export async function copyBlob(copier: BlobCopier, digest: ParsedDigest, size: number, where: string): Promise<CopyOutcome> {
  const target = paths.blob(digest);
  if ((await copier.to.statFile(target))?.size === size) return { copied: false, size };
  let source;
  try {
    source = await copier.read(digest);
  } catch (error) {
    if (error instanceof PathNotFoundError) throw new BackupError(`${where}: blob ${digest.value} is missing from the source`);
    throw error;
  }
  const hash = newHash(digest.algorithm);
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  source.on('error', (error) => hashing.destroy(error));
  source.pipe(hashing);
  const temporary = copier.temporary();
  try {
    await copier.to.append(temporary, hashing, size);
    const actual = `${digest.algorithm}:${hash.digest('hex')}`;
    if (actual !== digest.value) {
      throw new BackupError(`${where}: blob ${digest.value} in the source is corrupt: its content hashes to ${actual}`);
    }
    await copier.to.move(temporary, target);
  } catch (error) {
    source.destroy();
    await copier.to.delete(temporary).catch(() => undefined);
    if (error instanceof SizeMismatchError) {
      throw new BackupError(`${where}: blob ${digest.value} in the source is corrupt: ${error.received} bytes where ${error.expected} were expected`);
    }
    throw error;
  } finally {
    await copier.release?.(temporary);
  }
  return { copied: true, size };
}
