// Reading objects of the S3 driver: a file is one object, or the segments of an appended file one after another.
// A sender reads a large file sequentially into buffers it reuses (http/file-sender.ts); one ranged GET per read
// would cost a request per MiB, so the reader keeps one streaming GET open and serves reads from it, opening
// another only on a seek. The sender may read a chunk ahead and then read it again (a slow client): the chunks of
// the last read are kept, so that costs no new request.
import { Readable } from 'node:stream';
import type { ByteRange, FileReader } from './driver.ts';
import type { Bucket } from './s3-bucket.ts';
import type { Segment } from './s3-append.ts';

/** streams in a row that may fail at one position before a read fails (each is already retried by the client) */
const MAX_CUTS_IN_A_ROW = 3;

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
  chunks: AsyncIterator<Buffer>;
  /** bytes taken from the stream but not yet read (the rest of a chunk) */
  left: Buffer | null;
  body: Readable;
}

export class S3FileReader implements FileReader {
  readonly size: number;
  private readonly bucket: Bucket;
  private readonly segments: Segment[];
  /** file offset at which each segment starts */
  private readonly starts: number[];
  private stream: OpenStream | null = null;
  /** the bytes the last read returned, and where they start, to serve it again without a request */
  private last: { position: number; chunks: Buffer[] } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** `body`: a stream of the whole first segment already opened (the GET that found the file) */
  constructor(bucket: Bucket, segments: Segment[], body?: Readable) {
    this.bucket = bucket;
    this.segments = segments;
    let offset = 0;
    this.starts = segments.map((segment) => {
      const start = offset;
      offset += segment.size;
      return start;
    });
    this.size = offset;
    if (body && segments.length > 0) {
      this.stream = { index: 0, position: 0, chunks: body[Symbol.asyncIterator](), left: null, body };
    } else {
      body?.destroy();
    }
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
    this.last = null;
  }

  private async readNow(buffer: Buffer, position: number, length: number): Promise<number> {
    const wanted = Math.min(length, this.size - position);
    if (wanted <= 0) return 0;
    const taken: Buffer[] = [];
    let filled = 0;
    const replayed = this.replay(position, wanted);
    for (const chunk of replayed) {
      chunk.copy(buffer, filled);
      filled += chunk.length;
      taken.push(chunk);
    }
    while (filled < wanted) {
      const chunk = await this.next(position + filled, wanted - filled);
      if (!chunk) break;
      chunk.copy(buffer, filled);
      filled += chunk.length;
      taken.push(chunk);
    }
    this.last = { position, chunks: taken };
    return filled;
  }

  /** the start of [position, position + length) as views of the last read's chunks, when it lies there */
  private replay(position: number, length: number): Buffer[] {
    if (!this.last || position < this.last.position) return [];
    const views: Buffer[] = [];
    let skip = position - this.last.position;
    let left = length;
    for (const chunk of this.last.chunks) {
      if (left === 0) break;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const view = chunk.subarray(skip, skip + left);
      skip = 0;
      left -= view.length;
      views.push(view);
    }
    return views;
  }

  /**
   * Up to `max` bytes at `position` from the open stream, reopening it there when it is elsewhere. `cuts`: how many
   * streams in a row failed at this position.
   */
  private async next(position: number, max: number, cuts = 0): Promise<Buffer | null> {
    if (!this.stream || this.stream.position !== position) await this.open(position);
    const stream = this.stream!;
    let chunk = stream.left;
    stream.left = null;
    if (!chunk) {
      let result: IteratorResult<Buffer>;
      try {
        result = await stream.chunks.next();
      } catch (error) {
        // S3 (or the client's idle timeout) cut a stream this reader left idle while its reader was slow, or the
        // server closed the connection mid-body: it goes on from where it was, a few times
        if (this.closed || cuts >= MAX_CUTS_IN_A_ROW) throw error;
        this.closeStream();
        return this.next(position, max, cuts + 1);
      }
      if (result.done) {
        const segment = this.segments[stream.index]!;
        this.closeStream();
        if (position < this.starts[stream.index]! + segment.size) {
          // a body shorter than its object: cut as above, without an error
          if (this.closed || cuts >= MAX_CUTS_IN_A_ROW) throw new Error(`S3 object ${segment.key} ended early`);
          return this.next(position, max, cuts + 1);
        }
        // the segment is done: the next one opens on the next call
        return this.next(position, max, cuts);
      }
      chunk = result.value;
    }
    if (chunk.length > max) {
      stream.left = chunk.subarray(max);
      chunk = chunk.subarray(0, max);
    }
    stream.position += chunk.length;
    return chunk;
  }

  private async open(position: number): Promise<void> {
    if (this.closed) throw new Error('read of a closed file');
    this.closeStream();
    let index = this.starts.findLastIndex((start) => start <= position);
    while (index < this.segments.length - 1 && position >= this.starts[index]! + this.segments[index]!.size) index++;
    const segment = this.segments[index]!;
    const offset = position - this.starts[index]!;
    const object = await this.bucket.get(segment.key, { start: offset, end: segment.size - 1 });
    if (!object) throw missing(segment);
    this.stream = { index, position, chunks: object.body[Symbol.asyncIterator](), left: null, body: object.body };
  }

  private closeStream(): void {
    this.stream?.body.destroy();
    this.stream = null;
  }
}
