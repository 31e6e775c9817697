// What every route handler gets: the request, the reply, the services and who is asking.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Action, Authenticator, Principal } from '../auth/index.ts';
import type { Auditor } from '../audit/auditor.ts';
import type { BlobStore } from '../content/blob-store.ts';
import type { ManifestService } from '../content/manifest-service.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import type { UploadStore } from '../content/upload-store.ts';
import type { MirrorRuntime } from '../mirror/runtime.ts';
import type { RegistryMetrics } from '../ops/metrics.ts';
import type { RouteMatch } from './router.ts';
import type { ParsedDigest } from '../oci/digest.ts';

export interface Services {
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  auth: Authenticator;
  metrics: RegistryMetrics;
  /** pull-through mirrors (none configured: every repository is an ordinary one) */
  mirrors: MirrorRuntime;
  /** a URL the client may fetch a blob from directly (storage.s3.redirect); unset: blobs are sent by the registry */
  blobRedirect?: (digest: ParsedDigest) => Promise<string>;
  /** the audit trail: every write that changes what can be pulled, failed logins, admin runs */
  audit: Auditor;
}

export interface RouteContext {
  request: FastifyRequest;
  reply: FastifyReply;
  services: Services;
  route: RouteMatch;
  principal: Principal;
  /** the repository name, validated (empty for base and catalog) */
  name: string;
  /** a blob download whose client takes no byte for this long is cut (0: never) */
  sendIdleTimeoutMs: number;
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteHandler {
  /**
   * What the principal needs on the repository: actions, or 'login' (any authenticated user, or anyone on an
   * open registry), checked by the dispatcher before the handler runs.
   */
  requires: Action[] | 'login' | 'catalog';
  handle(context: RouteContext): Promise<void>;
}

export type RouteGroupHandlers = Partial<Record<HttpMethod, RouteHandler>>;

/** The query string's value for `key`, if given once. */
export function queryParam(request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, string | string[] | undefined>)[key];
  return Array.isArray(value) ? value[0] : value;
}
