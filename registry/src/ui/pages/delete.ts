// Deleting a tag or a manifest: GET shows a confirmation that says what else goes (a manifest takes all its tags
// with it; a tag leaves its manifest and the manifest's other tags), POST does it through ManifestService.delete,
// the call the /v2 DELETE makes, so referrers and GC see the same as after a client's delete. Both re-check the
// caller's delete right; the POST also its CSRF token.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html } from 'htm/preact';
import { tryParseDigest } from '../../oci/digest.ts';
import { frameOf, sendHtml, type UiDeps } from '../context.ts';
import { shortDigest } from '../format.ts';
import { csrfField, renderPage, type Frame } from '../layout.ts';
import { deleteManifestHref, deleteTagHref, imageHref, repositoryHref } from '../paths.ts';

export type DeleteTarget = { kind: 'tag'; tag: string; digest: string } | { kind: 'manifest'; digest: string };

export interface DeleteConfirmation {
  repository: string;
  target: DeleteTarget;
  /** tags on the digest: the others for a tag, all of them for a manifest */
  tags: string[];
  referrers: number;
}

function tagList(tags: string[]) {
  return html`<ul id="affected-tags">${tags.map((tag) => html`<li><code>${tag}</code></li>`)}</ul>`;
}

export function deletePage(frame: Frame, confirmation: DeleteConfirmation): string {
  const { repository, target, tags, referrers } = confirmation;
  const action = target.kind === 'tag' ? deleteTagHref(repository, target.tag) : deleteManifestHref(repository, target.digest);
  const heading = target.kind === 'tag' ? `Delete tag ${target.tag}?` : `Delete manifest ${shortDigest(target.digest)}?`;
  const consequences = target.kind === 'tag'
    ? html`<p>Only the tag goes: the image <a href=${imageHref(repository, target.digest)}><code>${shortDigest(target.digest)}</code></a> stays,
        pullable by digest${tags.length > 0 ? ' and by its other tags:' : ', with no tag left.'}</p>${tags.length > 0 ? tagList(tags) : null}`
    : html`<p>The manifest <code>${target.digest}</code> goes, ${tags.length > 0 ? html`and with it ${tags.length === 1 ? 'its tag' : `its ${tags.length} tags`}:` : 'which has no tags.'}</p>
        ${tags.length > 0 ? tagList(tags) : null}
        ${referrers > 0 ? html`<p>${referrers === 1 ? 'One signature or attestation refers' : `${referrers} signatures or attestations refer`} to it; they stay.</p>` : null}
        <p class="muted">Its layers are freed by the next garbage collection, unless other images use them.</p>`;
  const content = html`
    <p><a href=${repositoryHref(repository)}>${repository}</a></p>
    <h1>${heading}</h1>
    ${consequences}
    <form method="post" action=${action}>
      ${csrfField(frame.viewer)}
      <button id="confirm-delete" class="danger" type="submit">${target.kind === 'tag' ? 'Delete tag' : 'Delete manifest'}</button>
      <a href=${repositoryHref(repository)}>Cancel</a>
    </form>`;
  return renderPage(frame, heading, content);
}

async function tagsOn(deps: UiDeps, repository: string, digest: string): Promise<string[]> {
  const tags: string[] = [];
  for (const [tag, record] of await deps.services.repositories.tagRecords(repository)) if (record.digest === digest) tags.push(tag);
  return tags;
}

/** null when there is nothing to delete */
export async function confirmDelete(
  deps: UiDeps, request: FastifyRequest, reply: FastifyReply, repository: string, target: { tag: string } | { digest: string },
): Promise<FastifyReply | null> {
  const { repositories } = deps.services;
  let resolved: DeleteTarget;
  if ('tag' in target) {
    const record = await repositories.getTag(repository, target.tag);
    if (!record) return null;
    resolved = { kind: 'tag', tag: target.tag, digest: record.digest };
  } else {
    if (!(await repositories.getManifest(repository, tryParseDigest(target.digest)!))) return null;
    resolved = { kind: 'manifest', digest: target.digest };
  }
  const tags = (await tagsOn(deps, repository, resolved.digest)).filter((tag) => resolved.kind === 'manifest' || tag !== resolved.tag);
  const referrers = resolved.kind === 'manifest' ? (await repositories.listReferrers(repository, tryParseDigest(resolved.digest)!)).length : 0;
  return sendHtml(reply, deletePage(frameOf(deps, request, reply), { repository, target: resolved, tags, referrers }));
}

/** Deletes, then shows the repository with what was done; the caller checked the right and the CSRF token. */
export async function performDelete(
  deps: UiDeps, request: FastifyRequest, reply: FastifyReply, repository: string, target: { tag: string } | { digest: string },
): Promise<FastifyReply> {
  const reference = 'tag' in target ? target.tag : target.digest;
  const tagged = 'tag' in target ? await deps.services.audit.tagTarget(deps.services.repositories, repository, target.tag) : undefined;
  await deps.services.manifests.delete(repository, reference);
  deps.stats.forget(repository);
  deps.services.audit.succeeded(request, tagged ? { digest: tagged } : {});
  request.log.info({ repository, reference, user: request.uiPrincipal.user }, 'deleted through the web UI');
  const done = 'tag' in target ? `tag ${target.tag}` : `manifest ${shortDigest(target.digest)}`;
  return reply.redirect(`${repositoryHref(repository)}?${new URLSearchParams({ deleted: done })}`, 303);
}
