// Blob uploads: POST starts a session (or uploads monolithically with ?digest=, or mounts with ?mount=&from=),
// PATCH streams chunks, PUT ?digest= closes, GET reports progress, DELETE cancels.
import { ErrorCodes, RegistryError, registryError } from '../../errors.ts';
import { isValidRepositoryName } from '../../oci/names.ts';
import { parseDigest, tryParseDigest, type ParsedDigest } from '../../oci/digest.ts';
import { rangeHeader, type ChunkOptions } from '../../content/upload-store.ts';
import { completeUpload, mountBlob } from '../../content/blob-links.ts';
import type { RouteContext, RouteGroupHandlers } from '../context.ts';
import { queryParam } from '../context.ts';
import { contentLength, hasBody } from '../body.ts';

function sessionLocation(name: string, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

function replyInProgress({ reply, name }: RouteContext, id: string, size: number, status: number): void {
  reply
    .code(status)
    .header('Location', sessionLocation(name, id))
    .header('Range', rangeHeader(size))
    .header('Docker-Upload-UUID', id)
    .header('Content-Length', 0)
    .send();
}

function replyCreated(context: RouteContext, digest: ParsedDigest): void {
  context.reply
    .code(201)
    .header('Location', `/v2/${context.name}/blobs/${digest.value}`)
    .header('Docker-Content-Digest', digest.value)
    .header('Content-Length', 0)
    .send();
}

/** Content-Range of a chunk, `start-end` inclusive (some clients prefix `bytes `). */
function chunkOptions(context: RouteContext): ChunkOptions {
  const header = context.request.headers['content-range'];
  const length = contentLength(context.request.raw);
  if (header === undefined) return length === undefined ? {} : { length };
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(header.trim());
  if (!match) throw registryError(ErrorCodes.RANGE_INVALID, 'malformed Content-Range', { contentRange: header });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw registryError(ErrorCodes.RANGE_INVALID, 'malformed Content-Range', { contentRange: header });
  const declared = end - start + 1;
  if (length !== undefined && length !== declared) {
    throw registryError(ErrorCodes.SIZE_INVALID, 'Content-Length does not match Content-Range', {
      contentLength: length, contentRange: header,
    });
  }
  return { start, length: declared };
}

function uploadId(context: RouteContext): string {
  const id = context.route.uuid;
  if (!id) throw registryError(ErrorCodes.BLOB_UPLOAD_UNKNOWN, 'upload unknown');
  return id;
}

/** Cross-repository mount: only from a repository the caller may pull, and only a blob linked there. */
async function tryMount(context: RouteContext, digestValue: string, from: string | undefined): Promise<ParsedDigest | null> {
  const { services, principal } = context;
  const digest = tryParseDigest(digestValue);
  if (!digest || !from || !isValidRepositoryName(from)) return null;
  if (!services.auth.authorize(principal, from, 'pull')) return null;
  return await mountBlob(services, context.name, digest, from) ? digest : null;
}

/** Whose open sessions a new one counts against: the user, or on a registry without auth the client address. */
function sessionOwner({ principal, request }: RouteContext): string {
  return principal.user !== null ? `user:${principal.user}` : `address:${request.ip}`;
}

/** A monolithic upload has no Location to resume at, so when it fails its session goes, bytes and all. */
async function completeMonolithic(context: RouteContext, id: string, digest: ParsedDigest): Promise<void> {
  try {
    await complete(context, id, digest);
  } catch (error) {
    await context.services.uploads.cancel(context.name, id).catch((cleanup: unknown) => {
      // already gone when the blob was committed and only linking it failed; else the purge takes it later
      if (!(cleanup instanceof RegistryError && cleanup.descriptor === ErrorCodes.BLOB_UPLOAD_UNKNOWN)) {
        context.request.log.warn({ err: cleanup, uuid: id }, 'deleting a failed monolithic upload failed');
      }
    });
    throw error;
  }
}

async function complete(context: RouteContext, id: string, digest: ParsedDigest): Promise<void> {
  const { request, services, name } = context;
  const body = hasBody(request.raw) ? request.raw : undefined;
  const completed = await completeUpload(services, name, id, digest, body, body ? chunkOptions(context) : {});
  services.metrics.uploadCompleted(completed.size, Date.now() - completed.startedAt.getTime());
  replyCreated(context, digest);
}

export const uploadRoutes: RouteGroupHandlers = {
  POST: {
    requires: ['push'],
    async handle(context) {
      const { request, services, name } = context;
      const mount = queryParam(request, 'mount');
      if (mount !== undefined) {
        const mounted = await tryMount(context, mount, queryParam(request, 'from'));
        if (mounted) {
          replyCreated(context, mounted);
          return services.audit.succeeded(request);
        }
        // not mountable: an ordinary upload session follows, which is no mount (and not audited)
        services.audit.forget(request);
      }
      const digestParam = queryParam(request, 'digest');
      const digest = digestParam === undefined ? undefined : parseDigest(digestParam);
      const session = await services.uploads.create(name, sessionOwner(context));
      if (digest) return completeMonolithic(context, session.id, digest);
      request.raw.resume();
      replyInProgress(context, session.id, session.size, 202);
    },
  },
  PATCH: {
    requires: ['push'],
    async handle(context) {
      const id = uploadId(context);
      const options = chunkOptions(context);
      const size = await context.services.uploads.appendChunk(context.name, id, context.request.raw, options);
      replyInProgress(context, id, size, 202);
    },
  },
  PUT: {
    requires: ['push'],
    async handle(context) {
      const id = uploadId(context);
      const digestParam = queryParam(context.request, 'digest');
      if (digestParam === undefined) {
        context.request.raw.resume();
        throw registryError(ErrorCodes.DIGEST_INVALID, 'digest parameter missing');
      }
      await complete(context, id, parseDigest(digestParam));
    },
  },
  GET: {
    requires: ['push'],
    async handle(context) {
      const id = uploadId(context);
      const size = await context.services.uploads.size(context.name, id);
      replyInProgress(context, id, size, 204);
    },
  },
  DELETE: {
    requires: ['push'],
    async handle(context) {
      const id = uploadId(context);
      await context.services.uploads.cancel(context.name, id);
      context.reply.code(204).send();
    },
  },
};
