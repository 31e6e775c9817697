// Sends a large file (a blob) as a response body. A read stream piped into the response allocates a fresh buffer
// for every chunk: at a GiB per second that is a GiB per second of new memory to fault in and collect, and
// measured on the big-pull benchmark it halved throughput. Here each response reads the file into one pooled
// buffer, writes it, and reads the next chunk into it only once the socket has taken every byte (the write
// callback). A client that reads slowly, or not at all, therefore pins one buffer, never a growing queue; and the
// large buffers in use are capped for the whole process: past the cap a response makes do with a small one.
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ByteRange, FileReader } from '../storage/driver.ts';

/** Large chunks: fewer system calls and write callbacks per GiB. */
export const CHUNK_BYTES = 1024 * 1024;
/** What a response gets while every large buffer is taken: slower for it, bounded for the process. */
const SMALL_CHUNK_BYTES = 64 * 1024;
/** Large buffers in use at once, across all responses (64 MiB). */
const MAX_LARGE_BUFFERS = 64;

const freeLargeBuffers: Buffer[] = [];
let largeBuffersInUse = 0;

function takeBuffer(): Buffer {
  if (largeBuffersInUse >= MAX_LARGE_BUFFERS) return Buffer.allocUnsafeSlow(SMALL_CHUNK_BYTES);
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

/**
 * Takes over the reply (fastify's status and headers are written as they are; onResponse hooks still run when
 * the response finishes) and sends `range` of `file`, closing the file at the end. A read error after the
 * headers went out can only be reported by cutting the connection, as a client then sees a short body.
 */
export async function sendFile(reply: FastifyReply, file: FileReader, range: ByteRange, options: SendOptions = {}): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>);
  const buffer = takeBuffer();
  let outcome: WriteOutcome = 'closed';
  try {
    outcome = await copyRange(file, range, response, buffer, options.idleTimeoutMs ?? 0);
    if (outcome === 'written') response.end();
    if (outcome === 'stalled') reply.log.warn({ idleMs: options.idleTimeoutMs }, 'client took no bytes of a blob; connection closed');
  } catch (error) {
    reply.log.warn({ err: error }, 'blob send failed');
    response.destroy();
  } finally {
    returnBuffer(buffer, outcome === 'written' && !response.destroyed);
    await file.close();
  }
}

type WriteOutcome = 'written' | 'closed' | 'stalled';

async function copyRange(
  file: FileReader, range: ByteRange, response: ServerResponse, buffer: Buffer, idleTimeoutMs: number,
): Promise<WriteOutcome> {
  for (let position = range.start; position <= range.end;) {
    const length = Math.min(buffer.length, range.end - position + 1);
    const read = await file.read(buffer, position, length);
    if (read === 0) throw new Error(`file ended at ${position}, before byte ${range.end}`);
    position += read;
    const outcome = await writeFully(response, read === buffer.length ? buffer : buffer.subarray(0, read), idleTimeoutMs);
    if (outcome !== 'written') return outcome;
  }
  return 'written';
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
