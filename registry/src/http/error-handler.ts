// The one place where errors become HTTP responses: a RegistryError carries its descriptor; everything else is
// mapped to the nearest spec code, and unexpected failures are logged and reported as UNKNOWN without internals.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, RegistryError, type ErrorDescriptor } from '../errors.ts';
import { InvalidPathError } from '../storage/driver.ts';

interface ErrorBody {
  errors: Array<{ code: string; message: string; detail: unknown }>;
}

export function toRegistryError(error: unknown): { error: RegistryError; unexpected: boolean } {
  if (error instanceof RegistryError) return { error, unexpected: false };
  if (error instanceof InvalidPathError) return { error: new RegistryError(ErrorCodes.NAME_INVALID), unexpected: false };
  const status = (error as FastifyError).statusCode;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error).message === 'aborted') {
    return {
      error: new RegistryError(ErrorCodes.BLOB_UPLOAD_INVALID, 'request body ended before it was complete'),
      unexpected: false,
    };
  }
  if (status && status >= 400 && status < 500) {
    const descriptor: ErrorDescriptor = status === 413
      ? ErrorCodes.PAYLOAD_TOO_LARGE
      : { code: 'UNSUPPORTED', httpStatus: status, message: 'bad request' };
    return { error: new RegistryError(descriptor, (error as Error).message), unexpected: false };
  }
  return { error: new RegistryError(ErrorCodes.UNKNOWN), unexpected: true };
}

export function errorBody(error: RegistryError): ErrorBody {
  return { errors: [{ code: error.descriptor.code, message: error.message, detail: error.detail ?? null }] };
}

export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { error: registryError, unexpected } = toRegistryError(error);
  if (unexpected) request.log.error({ err: error }, 'request failed');
  reply.code(registryError.httpStatus);
  for (const [name, value] of Object.entries(registryError.headers)) reply.header(name, value);
  // a client that stopped sending cannot read a reply, and an unread body keeps the socket busy
  if (registryError.descriptor === ErrorCodes.BLOB_UPLOAD_INVALID && request.raw.destroyed) return;
  // A body nobody reads (refused before any handler touched it: no credentials, no rights, a bad name) is not
  // read at all: Node would otherwise discard it byte by byte after the reply, for as long as the client keeps
  // sending, declared 5 GB or dripped. Connection: close makes Node end the socket once the reply is flushed.
  if (!request.raw.complete && !request.raw.readableFlowing) reply.header('Connection', 'close');
  if (request.method === 'HEAD') {
    reply.send();
    return;
  }
  reply.type('application/json').send(errorBody(registryError));
}
