// GET and POST /ui/r/<repo>[/…]: one dispatcher that reads what the path names (paths.ts), checks the caller's
// right on the repository once (pull to see, delete to delete; the POST re-checks, whatever the page showed),
// then hands over to the page.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Action } from '../auth/index.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import { frameOf, mayBrowse, queryValue, sendHtml, type UiDeps } from './context.ts';
import { errorPage } from './pages/error.ts';
import { confirmDelete, performDelete } from './pages/delete.ts';
import { sendRawManifest, showImage } from './pages/image.ts';
import { showRepository } from './pages/repository.ts';
import { parseRepositoryPath, type RepositoryPath } from './paths.ts';

const PREFIX = '/ui/r/';

function notFound(deps: UiDeps, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendHtml(reply, errorPage(frameOf(deps, request, reply), 'Not found',
    'There is no such repository or image, or you may not see it.'), 404);
}

/** "tag v1" or "manifest sha256:0123456789ab", as performDelete reports it; anything else in the URL is ignored */
function deletedNotice(request: FastifyRequest): string | undefined {
  const deleted = queryValue(request, 'deleted');
  return deleted && /^(tag [A-Za-z0-9_][A-Za-z0-9._-]{0,127}|manifest sha(256|512):[0-9a-f]{12})$/.test(deleted) ? `Deleted ${deleted}.` : undefined;
}

/**
 * Whether the caller has `action` on the repository; otherwise the reply says so: the login page for an anonymous
 * caller who could log in, "not found" for one who may not see the repository (its existence is not told), a
 * refusal for one who may see it but not delete.
 */
function allowed(deps: UiDeps, request: FastifyRequest, reply: FastifyReply, repository: string, action: Action): boolean {
  const { auth } = deps.services;
  if (auth.authorize(request.uiPrincipal, repository, action)) return true;
  if (request.uiPrincipal.user === null && auth.enabled && request.method === 'GET') {
    void reply.redirect(`/ui/login?next=${encodeURIComponent(request.url)}`, 303);
  } else if (!auth.authorize(request.uiPrincipal, repository, 'pull')) {
    void notFound(deps, request, reply);
  } else {
    void sendHtml(reply, errorPage(frameOf(deps, request, reply), 'Not allowed', `You may not delete in ${repository}.`), 403);
  }
  return false;
}

async function show(deps: UiDeps, request: FastifyRequest, reply: FastifyReply, target: RepositoryPath): Promise<FastifyReply> {
  if (!allowed(deps, request, reply, target.repository, target.page.startsWith('delete') ? 'delete' : 'pull')) return reply;
  if (!(await deps.services.repositories.repositoryExists(target.repository))) return notFound(deps, request, reply);
  let shown: FastifyReply | null;
  switch (target.page) {
    case 'repository': shown = await showRepository(deps, request, reply, target.repository, deletedNotice(request)); break;
    case 'image': shown = await showImage(deps, request, reply, target.repository, target.digest); break;
    case 'raw': shown = await sendRawManifest(deps, reply, target.repository, target.digest); break;
    case 'delete-manifest': shown = await confirmDelete(deps, request, reply, target.repository, { digest: target.digest }); break;
    case 'delete-tag': shown = await confirmDelete(deps, request, reply, target.repository, { tag: target.tag }); break;
  }
  return shown ?? notFound(deps, request, reply);
}

export function registerRepositoryRoutes(ui: FastifyInstance, deps: UiDeps): void {
  const pathOf = (request: FastifyRequest) => parseRepositoryPath(request.url.slice(PREFIX.length).split('?', 1)[0]!);

  ui.get('/r/*', async (request, reply) => {
    if (!mayBrowse(deps, request, reply)) return reply;
    const target = pathOf(request);
    return target ? show(deps, request, reply, target) : notFound(deps, request, reply);
  });

  ui.post('/r/*', { preHandler: ui.csrfProtection }, async (request, reply) => {
    const target = pathOf(request);
    if (!target || (target.page !== 'delete-tag' && target.page !== 'delete-manifest')) return notFound(deps, request, reply);
    deps.services.audit.expect(request, target.page === 'delete-tag'
      ? { action: 'tag.delete', repository: target.repository, tag: target.tag }
      : { action: 'manifest.delete', repository: target.repository, digest: target.digest });
    if (!allowed(deps, request, reply, target.repository, 'delete')) {
      deps.services.audit.failed(request, registryError(ErrorCodes.DENIED, `user may not delete in ${target.repository}`));
      return reply;
    }
    return performDelete(deps, request, reply, target.repository, target.page === 'delete-tag' ? { tag: target.tag } : { digest: target.digest });
  });
}
