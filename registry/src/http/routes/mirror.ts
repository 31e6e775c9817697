// The routes of repositories under a mirror's prefix: manifests and blobs are pulled through the mirror service
// (from the store, or fetched from the upstream); pushes, deletes and uploads are refused with DENIED. Tags,
// referrers and the catalog are the ordinary routes: they show what the mirror holds.
import { ErrorCodes, registryError } from '../../errors.ts';
import { parseDigest } from '../../oci/digest.ts';
import type { RouteContext, RouteGroupHandlers, RouteHandler } from '../context.ts';
import { sendFile } from '../file-sender.ts';
import type { RouteGroup } from '../router.ts';
import { parseRange, setBlobHeaders } from './blobs.ts';
import { reference, setManifestHeaders } from './manifests.ts';

/** Needs pull, so that who may not even see the repository learns nothing more from the refusal. */
const denied: RouteHandler = {
  requires: ['pull'],
  async handle(context) {
    context.services.mirrors.service.refuseWrite(context.name);
  },
};

async function sendBlob(context: RouteContext, method: 'GET' | 'HEAD'): Promise<void> {
  const { request, reply, services, name } = context;
  const digest = parseDigest(context.route.digest);
  const mirrors = services.mirrors.service;
  const blob = await mirrors.blob(name, digest);
  let released = false;
  const release = () => {
    if (!released) blob.release();
    released = true;
  };
  try {
    setBlobHeaders(context, digest);
    const range = method === 'GET' ? parseRange(request.headers.range, blob.size) : null;
    if (range === 'unsatisfiable') {
      throw registryError(ErrorCodes.RANGE_INVALID, 'requested range not satisfiable', { size: blob.size }, {
        'Content-Range': `bytes */${blob.size}`,
      });
    }
    if (range) {
      reply.code(206);
      reply.header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
      reply.header('Content-Length', range.end - range.start + 1);
    } else {
      reply.header('Content-Length', blob.size);
    }
    if (method === 'HEAD' || blob.size === 0) {
      release();
      reply.send(method === 'HEAD' ? undefined : '');
      return;
    }
    const length = range ? range.end - range.start + 1 : blob.size;
    reply.raw.once('close', release);
    reply.raw.once('finish', () => services.metrics.mirrorBytesServed(mirrors.target(name)!.mirror.name, length));
    await sendFile(reply, await blob.open(), range ?? { start: 0, end: blob.size - 1 }, { idleTimeoutMs: context.sendIdleTimeoutMs });
  } catch (error) {
    release();
    throw error;
  }
}

async function sendManifest(context: RouteContext, method: 'GET' | 'HEAD'): Promise<void> {
  const manifest = await context.services.mirrors.service.manifest(context.name, reference(context), method);
  setManifestHeaders(context, manifest);
  if (method === 'HEAD') {
    context.reply.header('Content-Length', manifest.size).send();
    return;
  }
  context.services.metrics.mirrorBytesServed(context.services.mirrors.service.target(context.name)!.mirror.name, manifest.size);
  context.reply.send(manifest.content);
}

export const mirrorRouteGroups: Partial<Record<RouteGroup, RouteGroupHandlers>> = {
  manifests: {
    GET: { requires: ['pull'], handle: (context) => sendManifest(context, 'GET') },
    HEAD: { requires: ['pull'], handle: (context) => sendManifest(context, 'HEAD') },
    PUT: denied,
    DELETE: denied,
  },
  blobs: {
    GET: { requires: ['pull'], handle: (context) => sendBlob(context, 'GET') },
    HEAD: { requires: ['pull'], handle: (context) => sendBlob(context, 'HEAD') },
    DELETE: denied,
  },
  uploads: { POST: denied, PATCH: denied, PUT: denied, GET: denied, DELETE: denied },
};
