// Reading objects of the S3 driver: a file is one object, or the segments of an appended file one after another.
// A sender reads a large file sequentially into buffers it reuses (http/file-sender.ts); one ranged GET per read
// would cost a request per MiB, so the reader keeps one streaming GET open and serves reads from it, opening
// another only on a seek. Its first bytes come with the GET that found the file (a small file comes whole), the
// rest from a GET whose socket reads are copied straight into the sender's buffers (s3-socket-get.ts). A read of
// bytes already read (the sender read a chunk ahead, then dropped it for a slow client) opens another GET: keeping
// a copy of every read for that, measured serving 256 MiB to curl, halved the rate (249-303 MiB/s against 513-560).
import { Readable } from 'node:stream';
import type { ByteRange, FileReader } from './driver.ts';
import type { Bucket } from './s3-bucket.ts';
import type { SocketBody } from './s3-socket-get.ts';
import type { Segment } from './s3-append.ts';

function missing(segment: Segment): Error {
  return new Error(`S3 object ${segment.key} of a file vanished while it was read (moved or deleted)`);
}

/** The bytes of consecutive segments (an optional range of their concatenation) as one stream. */
export function segmentsStream(bucket: Bucket, segments: Segment[], range?: ByteRange): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    let offset = 0;
    for (const segment of segments) {
      const start = Math.max(range?.start ?? 0, offset);
      const end = Math.min(range?.end ?? Infinity, offset + segment.size - 1);
      offset += segment.size;
      if (start > end) continue;
      const object = await bucket.get(segment.key, { start: start - (offset - segment.size), end: end - (offset - segment.size) });
      if (!object) throw missing(segment);
      for await (const chunk of object.body) yield chunk as Buffer;
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

interface OpenStream {
  /** the segment read */
  index: number;
  /** file position of the next byte the stream yields */
  position: number;
  body: SocketBody;
}

export class S3FileReader implements FileReader {
  readonly size: number;
  private readonly bucket: Bucket;
  private readonly segments: Segment[];
  /** file offset at which each segment starts */
  private readonly starts: number[];
  private stream: OpenStream | null = null;
  /** the file's first bytes as the GET that found it brought them, until a read goes past them */
  private first: Buffer | null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** `first`: the file's first bytes, already read (the GET that found the file asked for them) */
  constructor(bucket: Bucket, segments: Segment[], first?: Buffer) {
    this.bucket = bucket;
    this.segments = segments;
    let offset = 0;
    this.starts = segments.map((segment) => {
      const start = offset;
      offset += segment.size;
      return start;
    });
    this.size = offset;
    this.first = first && first.length > 0 ? first : null;
  }

  read(buffer: Buffer, position: number, length: number): Promise<number> {
    // one read at a time: each continues the stream where the previous one stopped
    const result = this.queue.then(() => this.readNow(buffer, position, length));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    // a read waiting on a stalled stream ends now, with an error
    this.closeStream();
    await this.queue;
    this.closeStream();
    this.first = null;
  }

  private async readNow(buffer: Buffer, position: number, length: number): Promise<number> {
    const wanted = Math.min(length, this.size - position);
    if (wanted <= 0) return 0;
    let filled = this.fromFirst(buffer, position, wanted);
    if (filled < wanted) this.first = null;
    while (filled < wanted) {
      const read = await this.next(buffer, filled, position + filled, wanted - filled);
      if (read === 0) break;
      filled += read;
    }
    return filled;
  }

  /** copies the start of [position, position + length) from the file's first bytes, when it lies there */
  private fromFirst(buffer: Buffer, position: number, length: number): number {
    if (!this.first || position >= this.first.length) return 0;
    return this.first.copy(buffer, 0, position, Math.min(this.first.length, position + length));
  }

  /** reads up to `max` bytes at `position` from the open stream into `buffer` at `offset`, reopening it where needed */
  private async next(buffer: Buffer, offset: number, position: number, max: number, retried = false): Promise<number> {
    if (!this.stream || this.stream.position !== position) await this.open(position);
    const stream = this.stream!;
    let read: number;
    try {
      read = await stream.body.read(buffer, offset, max);
    } catch (error) {
      // S3 (or the idle timeout) cut a stream this reader left idle while its reader was slow: once, it goes on
      // from where it was
      if (this.closed || retried) throw error;
      this.closeStream();
      return this.next(buffer, offset, position, max, true);
    }
    if (read === 0) {
      const segment = this.segments[stream.index]!;
      if (position < this.starts[stream.index]! + segment.size) throw new Error(`S3 object ${segment.key} ended early`);
      // the segment is done: the next one opens on the next call
      this.closeStream();
      return this.next(buffer, offset, position, max, retried);
    }
    stream.position += read;
    return read;
  }

  private async open(position: number): Promise<void> {
    if (this.closed) throw new Error('read of a closed file');
    this.closeStream();
    let index = this.starts.findLastIndex((start) => start <= position);
    while (index < this.segments.length - 1 && position >= this.starts[index]! + this.segments[index]!.size) index++;
    const segment = this.segments[index]!;
    const offset = position - this.starts[index]!;
    const body = await this.bucket.stream(segment.key, { start: offset, end: segment.size - 1 });
    if (!body) throw missing(segment);
    this.stream = { index, position, body };
  }

  private closeStream(): void {
    this.stream?.body.destroy();
    this.stream = null;
  }
}
