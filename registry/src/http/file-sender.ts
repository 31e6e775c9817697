// Sends a large file (a blob) as a response body. A read stream piped into the response allocates a fresh buffer
// for every chunk: at a GiB per second that is a GiB per second of new memory to fault in and collect, and
// measured on the big-pull benchmark it halved throughput. Here the file is read into pooled buffers, each reused
// once the socket has taken its bytes (the write callback). While the client keeps up, the next chunk is read into
// a second buffer as the current one is written; once a write is slow, that read-ahead buffer goes back to the pool
// and the response holds only the buffer the socket is working on. A client that reads slowly, or not at all,
// therefore pins one buffer, never a growing queue; and the large buffers in use are capped for the whole process:
// past the cap a response makes do with a small one, and nobody reads ahead.
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ByteRange, FileReader } from '../storage/driver.ts';

/** Large chunks: fewer system calls and write callbacks per GiB. */
export const CHUNK_BYTES = 1024 * 1024;
/** What a response gets while every large buffer is taken: slower for it, bounded for the process. */
const SMALL_CHUNK_BYTES = 64 * 1024;
/** Large buffers in use at once, across all responses (64 MiB). */
const MAX_LARGE_BUFFERS = 64;
/** A write the socket has not taken within this long means the client is slower than the disk. */
const SLOW_WRITE_MS = 100;

const freeLargeBuffers: Buffer[] = [];
let largeBuffersInUse = 0;

function takeLargeBuffer(): Buffer | null {
  if (largeBuffersInUse >= MAX_LARGE_BUFFERS) return null;
  largeBuffersInUse++;
  // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared slab, since it outlives this response
  return freeLargeBuffers.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
}

/** `reusable`: false when a failed write may still be referenced by the socket; it is then left to the GC. */
function returnBuffer(buffer: Buffer, reusable: boolean): void {
  if (buffer.length !== CHUNK_BYTES) return;
  largeBuffersInUse--;
  if (reusable) freeLargeBuffers.push(buffer);
}

export interface SendOptions {
  /** a response whose socket takes no byte for this long is cut (0: waits forever) */
  idleTimeoutMs?: number;
}

type WriteOutcome = 'written' | 'closed' | 'stalled';

/**
 * Takes over the reply (fastify's status and headers are written as they are; onResponse hooks still run when
 * the response finishes) and sends `range` of `file`, closing the file at the end. A read error after the
 * headers went out can only be reported by cutting the connection, as a client then sees a short body.
 */
export async function sendFile(reply: FastifyReply, file: FileReader, range: ByteRange, options: SendOptions = {}): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>);
  const sender = new RangeSender(file, range, response, options.idleTimeoutMs ?? 0);
  let outcome: WriteOutcome = 'closed';
  try {
    outcome = await sender.send();
    if (outcome === 'written') response.end();
    if (outcome === 'stalled') reply.log.warn({ idleMs: options.idleTimeoutMs }, 'client took no bytes of a blob; connection closed');
  } catch (error) {
    reply.log.warn({ err: error }, 'blob send failed');
    response.destroy();
  } finally {
    sender.releaseBuffers(outcome === 'written' && !response.destroyed);
    await file.close();
  }
}

class RangeSender {
  private readonly file: FileReader;
  private readonly range: ByteRange;
  private readonly response: ServerResponse;
  private readonly idleTimeoutMs: number;
  /** the chunk being written */
  private current: Buffer = takeLargeBuffer() ?? Buffer.allocUnsafeSlow(SMALL_CHUNK_BYTES);
  /** the next chunk, read ahead while the client keeps up */
  private spare: Buffer | null = null;

  constructor(file: FileReader, range: ByteRange, response: ServerResponse, idleTimeoutMs: number) {
    this.file = file;
    this.range = range;
    this.response = response;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  async send(): Promise<WriteOutcome> {
    let position = this.range.start;
    let length = await this.readInto(this.current, position);
    let keepingUp = true;
    for (;;) {
      const next = position + length;
      const chunk = length === this.current.length ? this.current : this.current.subarray(0, length);
      const writing = writeFully(this.response, chunk, this.idleTimeoutMs);
      let ahead: Promise<number> | null = null;
      if (keepingUp && next <= this.range.end) {
        this.spare ??= takeLargeBuffer();
        if (this.spare) {
          ahead = this.readInto(this.spare, next);
          // awaited below; a failure must not count as unhandled while the write is pending
          ahead.catch(() => undefined);
        }
      }
      let outcome = await settledWithin(writing, SLOW_WRITE_MS);
      keepingUp = outcome !== 'pending';
      if (outcome === 'pending') {
        // the chunk read ahead would only wait for the client: its buffer goes back, the chunk is read again later
        if (ahead) await ahead.catch(() => 0);
        ahead = null;
        this.dropSpare();
        outcome = await writing;
      }
      if (outcome !== 'written') {
        // the spare may be filling; it is reusable only once the file is done with it
        if (ahead) await ahead.catch(() => 0);
        return outcome;
      }
      position = next;
      if (position > this.range.end) return 'written';
      if (ahead) {
        length = await ahead;
        [this.current, this.spare] = [this.spare!, this.current];
      } else {
        length = await this.readInto(this.current, position);
      }
    }
  }

  /** `currentReusable`: false when the buffer last handed to the socket may still be referenced by it. */
  releaseBuffers(currentReusable: boolean): void {
    returnBuffer(this.current, currentReusable);
    this.dropSpare();
  }

  private dropSpare(): void {
    if (this.spare) returnBuffer(this.spare, true);
    this.spare = null;
  }

  private async readInto(buffer: Buffer, position: number): Promise<number> {
    const read = await this.file.read(buffer, position, Math.min(buffer.length, this.range.end - position + 1));
    if (read === 0) throw new Error(`file ended at ${position}, before byte ${this.range.end}`);
    return read;
  }
}

/** The promise's value if it settles within `ms`, else 'pending'. */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Writes and waits until the socket has taken every byte, or the client went away, or took nothing for too long. */
function writeFully(response: ServerResponse, chunk: Buffer, idleTimeoutMs: number): Promise<WriteOutcome> {
  if (response.destroyed) return Promise.resolve('closed');
  return new Promise<WriteOutcome>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: WriteOutcome) => {
      if (timer) clearTimeout(timer);
      response.off('close', onClose);
      resolve(outcome);
    };
    // a client that goes away fails the pending write; waiting for its callback alone could wait forever
    const onClose = () => finish('closed');
    response.once('close', onClose);
    if (idleTimeoutMs > 0) {
      timer = setTimeout(() => {
        finish('stalled');
        response.destroy();
      }, idleTimeoutMs);
    }
    response.write(chunk, (error) => finish(error ? 'closed' : 'written'));
  });
}
