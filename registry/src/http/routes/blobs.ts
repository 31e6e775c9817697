// GET / HEAD / DELETE /v2/<name>/blobs/<digest>. A blob is served only from repositories it was pushed or
// mounted into, so access rules on repositories also guard the shared blob store.
import { ErrorCodes, registryError } from '../../errors.ts';
import { parseDigest, type ParsedDigest } from '../../oci/digest.ts';
import type { ByteRange } from '../../storage/driver.ts';
import type { RouteContext, RouteGroupHandlers } from '../context.ts';
import { sendFile } from '../file-sender.ts';

async function linkedBlobSize({ services, name }: RouteContext, digest: ParsedDigest): Promise<number> {
  await services.blobs.protect(digest);
  const [linked, size] = await Promise.all([
    services.repositories.isBlobLinked(name, digest),
    services.blobs.size(digest),
  ]);
  if (!linked || size === null) throw registryError(ErrorCodes.BLOB_UNKNOWN, 'blob unknown to registry', { digest: digest.value });
  return size;
}

/**
 * A single `bytes=` range. A Range the server cannot use is ignored and the whole blob sent, as RFC 9110 (14.2)
 * has it: another unit, bad syntax, a last byte before the first, several ranges. Only a well-formed range that
 * lies outside the blob is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (!header) return null;
  const match = /^bytes=[ \t]*(\d*)-(\d*)$/i.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match;
  if (first === '') {
    if (last === '') return null;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

export function setBlobHeaders({ reply }: RouteContext, digest: ParsedDigest): void {
  reply.header('Docker-Content-Digest', digest.value);
  reply.header('ETag', `"${digest.value}"`);
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'max-age=31536000');
  reply.type('application/octet-stream');
}

export const blobRoutes: RouteGroupHandlers = {
  HEAD: {
    requires: ['pull'],
    async handle(context) {
      const digest = parseDigest(context.route.digest);
      const size = await linkedBlobSize(context, digest);
      setBlobHeaders(context, digest);
      context.reply.header('Content-Length', size);
      context.reply.send();
    },
  },
  GET: {
    requires: ['pull'],
    async handle(context) {
      const { request, reply, services } = context;
      const digest = parseDigest(context.route.digest);
      const size = await linkedBlobSize(context, digest);
      if (services.blobRedirect) {
        // the client fetches the bytes from the object store itself, with its Range header if it sent one
        return reply.code(307).header('Location', await services.blobRedirect(digest)).header('Content-Length', 0).send();
      }
      setBlobHeaders(context, digest);
      const range = parseRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        throw registryError(ErrorCodes.RANGE_INVALID, 'requested range not satisfiable', { size }, {
          'Content-Range': `bytes */${size}`,
        });
      }
      if (range) {
        reply.code(206);
        reply.header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
        reply.header('Content-Length', range.end - range.start + 1);
      } else {
        reply.header('Content-Length', size);
      }
      if (size === 0) return reply.send('');
      await sendFile(reply, await services.blobs.open(digest), range ?? { start: 0, end: size - 1 }, {
        idleTimeoutMs: context.sendIdleTimeoutMs,
      });
    },
  },
  DELETE: {
    requires: ['delete'],
    async handle(context) {
      const digest = parseDigest(context.route.digest);
      const size = await linkedBlobSize(context, digest);
      await context.services.repositories.unlinkBlob(context.name, digest);
      context.reply.code(202).header('Content-Length', 0).send();
      context.services.audit.succeeded(context.request, { size });
    },
  },
};
