// Sends a large file (a blob) as a response body. A read stream piped into the response allocates a fresh buffer
// for every chunk: at a GiB per second that is a GiB per second of new memory to fault in and collect, and
// measured on the big-pull benchmark it halved throughput. Here the file is read into a few pooled buffers, each
// reused once the socket has taken its bytes (the write callback), so steady-state sending allocates nothing.
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ByteRange, FileReader } from '../storage/driver.ts';

/** Large chunks: fewer system calls and write callbacks per GiB. */
export const CHUNK_BYTES = 1024 * 1024;
/** Chunks one response may have between the disk and the socket: reading runs ahead while the socket drains. */
const CHUNKS_IN_FLIGHT = 4;
/** Free buffers kept for later responses; beyond that, returned buffers are left to the garbage collector. */
const POOL_LIMIT = 16;

const freeBuffers: Buffer[] = [];

function takeBuffer(): Buffer {
  // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared slab, since it outlives this response
  return freeBuffers.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
}

function returnBuffer(buffer: Buffer): void {
  if (freeBuffers.length < POOL_LIMIT) freeBuffers.push(buffer);
}

/**
 * Takes over the reply (fastify's status and headers are written as they are; onResponse hooks still run when
 * the response finishes) and sends `range` of `file`, closing the file at the end. A read error after the
 * headers went out can only be reported by cutting the connection, as a client then sees a short body.
 */
export async function sendFile(reply: FastifyReply, file: FileReader, range: ByteRange): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>);
  try {
    await copyRange(file, range, response);
    response.end();
  } catch (error) {
    reply.log.warn({ err: error }, 'blob send failed');
    response.destroy();
  } finally {
    await file.close();
  }
}

async function copyRange(file: FileReader, range: ByteRange, response: ServerResponse): Promise<void> {
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  // a client that goes away fails pending writes; waiting for their callbacks alone could wait forever
  response.once('close', wakeUp);
  try {
    for (let position = range.start; position <= range.end;) {
      while (inFlight >= CHUNKS_IN_FLIGHT && !response.destroyed) await new Promise<void>((resolve) => { wake = resolve; });
      if (response.destroyed) return;
      const buffer = takeBuffer();
      const length = Math.min(CHUNK_BYTES, range.end - position + 1);
      const read = await file.read(buffer, position, length);
      if (read === 0) throw new Error(`file ended at ${position}, before byte ${range.end}`);
      position += read;
      inFlight++;
      response.write(read === CHUNK_BYTES ? buffer : buffer.subarray(0, read), (error) => {
        inFlight--;
        // a failed write may still be referenced by the socket: only a completed one gives its buffer back
        if (!error) returnBuffer(buffer);
        wakeUp();
      });
    }
  } finally {
    response.off('close', wakeUp);
  }
}
