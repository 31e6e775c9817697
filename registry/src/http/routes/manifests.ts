// GET / HEAD / PUT / DELETE /v2/<name>/manifests/<reference>, by tag or by digest.
import { ErrorCodes, registryError } from '../../errors.ts';
import type { RouteContext, RouteGroupHandlers } from '../context.ts';
import { readBoundedBody } from '../body.ts';
import type { ResolvedManifest } from '../../content/manifest-service.ts';

/**
 * Whether the client's Accept header admits the stored media type. No header, wildcards and plain JSON admit
 * everything; a client that lists only other manifest types (e.g. one that knows no indexes) gets a 404, as
 * from distribution, rather than bytes it cannot parse.
 */
export function accepts(acceptHeader: string | string[] | undefined, mediaType: string): boolean {
  if (acceptHeader === undefined) return true;
  const values = (Array.isArray(acceptHeader) ? acceptHeader.join(',') : acceptHeader)
    .split(',')
    .map((value) => value.split(';')[0]!.trim().toLowerCase())
    .filter((value) => value !== '');
  if (values.length === 0) return true;
  return values.some((value) => value === mediaType || value === '*/*' || value === 'application/*' || value === 'application/json');
}

export function reference(context: RouteContext): string {
  const value = context.route.reference;
  if (!value) throw registryError(ErrorCodes.MANIFEST_UNKNOWN, 'manifest unknown');
  return value;
}

function assertAcceptable(context: RouteContext, mediaType: string): void {
  if (!accepts(context.request.headers.accept, mediaType)) {
    throw registryError(ErrorCodes.MANIFEST_UNKNOWN, `manifest is a ${mediaType}, which the client does not accept`, {
      mediaType,
    });
  }
}

export function setManifestHeaders(context: RouteContext, manifest: ResolvedManifest): void {
  assertAcceptable(context, manifest.mediaType);
  context.reply
    .type(manifest.mediaType)
    .header('Docker-Content-Digest', manifest.digest.value)
    .header('ETag', `"${manifest.digest.value}"`);
}

export const manifestRoutes: RouteGroupHandlers = {
  HEAD: {
    requires: ['pull'],
    async handle(context) {
      const resolved = await context.services.manifests.resolve(context.name, reference(context));
      setManifestHeaders(context, resolved);
      context.reply.header('Content-Length', resolved.size).send();
    },
  },
  GET: {
    requires: ['pull'],
    async handle(context) {
      const manifest = await context.services.manifests.get(context.name, reference(context));
      setManifestHeaders(context, manifest);
      context.reply.send(manifest.content);
    },
  },
  PUT: {
    requires: ['push'],
    async handle(context) {
      const { request, reply, services, name } = context;
      const ref = reference(context);
      const body = await readBoundedBody(request.raw, services.manifests.maxManifestBytes);
      const previousDigest = await services.audit.tagTarget(services.repositories, name, ref);
      const pushed = await services.manifests.put(name, ref, body, request.headers['content-type']);
      services.metrics.bytesReceived(body.length);
      reply
        .code(201)
        .header('Location', `/v2/${name}/manifests/${pushed.digest.value}`)
        .header('Docker-Content-Digest', pushed.digest.value)
        .header('Content-Length', 0);
      if (pushed.subject) reply.header('OCI-Subject', pushed.subject);
      reply.send();
      services.audit.pushed(request, { digest: pushed.digest.value, mediaType: request.headers['content-type'], size: body.length, previousDigest });
    },
  },
  DELETE: {
    requires: ['delete'],
    async handle(context) {
      const { services, request, name } = context;
      const digest = await services.audit.tagTarget(services.repositories, name, reference(context));
      await services.manifests.delete(name, reference(context));
      context.reply.code(202).header('Content-Length', 0).send();
      services.audit.succeeded(request, digest ? { digest } : {});
    },
  },
};
