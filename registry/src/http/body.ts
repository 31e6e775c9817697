// Request bodies are streamed for blobs; only manifests are read into memory, with a bound.
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, registryError } from '../errors.ts';

export async function readBoundedBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  const tooLarge = () => registryError(ErrorCodes.PAYLOAD_TOO_LARGE, `body exceeds ${maxBytes} bytes`);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      request.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** Whether the request carries a body at all (PUT closing an upload may or may not). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}

/** Content-Length as a number, when the client sent one. */
export function contentLength(request: IncomingMessage): number | undefined {
  const value = request.headers['content-length'];
  if (value === undefined) return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}
