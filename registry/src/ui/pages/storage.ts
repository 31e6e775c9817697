// GET /ui/storage: the bytes stored in all, per repository (largest first, paged), and the last garbage
// collection and retention runs with what they deleted and freed. Per-repository sizes need a walk of each
// repository's records (cached for a while by RepositoryStats): on thousands of repositories the first view is slow.
import type { FastifyInstance } from 'fastify';
import { html } from 'htm/preact';
import pLimit from 'p-limit';
import type { GcRunSummary, RetentionRunSummary } from '../../ops/run-history.ts';
import { frameOf, mayBrowse, pageNumber, sendHtml, type UiDeps } from '../context.ts';
import { countOf, formatBytes } from '../format.ts';
import { renderPage, type Frame } from '../layout.ts';
import { repositoryHref } from '../paths.ts';
import { pager, timeCell } from '../widgets.ts';

const REPOSITORIES_PER_PAGE = 50;
/** runs listed of each kind */
const RUNS_SHOWN = 10;

export interface StorageOverview {
  /** null before the first walk of the store has finished */
  totalBytes: number | null;
  repositories: Array<{ name: string; storedBytes: number | null }>;
  /** repositories the caller may see */
  repositoryCount: number;
  page: number;
  gcRuns: GcRunSummary[];
  retentionRuns: RetentionRunSummary[];
  now: Date;
}

function mode(dryRun: boolean) {
  return dryRun ? html`<span class="muted">dry run</span>` : 'deleted';
}

export function storagePage(frame: Frame, overview: StorageOverview): string {
  const { now, page } = overview;
  const pages = Math.max(1, Math.ceil(overview.repositoryCount / REPOSITORIES_PER_PAGE));
  const content = html`
    <h1>Storage</h1>
    <p id="total-stored">${overview.totalBytes === null ? 'The store is being measured…' : html`<strong>${formatBytes(overview.totalBytes)}</strong> stored in all`}</p>
    <h2>By repository</h2>
    <p class="muted">A layer used by several repositories counts in each.</p>
    <table id="repository-sizes">
      <thead><tr><th scope="col">Repository</th><th scope="col" class="num">Size</th></tr></thead>
      <tbody>${overview.repositories.map((repository) => html`<tr>
        <td><a href=${repositoryHref(repository.name)}>${repository.name}</a></td>
        <td class="num">${repository.storedBytes === null ? '?' : formatBytes(repository.storedBytes)}</td>
      </tr>`)}</tbody>
    </table>
    ${pager({ page, pages, href: (target) => `/ui/storage?page=${target}` })}
    <h2>Garbage collections</h2>
    ${overview.gcRuns.length === 0 ? html`<p class="muted" id="gc-runs">None recorded yet.</p>` : html`<table id="gc-runs">
      <thead><tr><th scope="col">Finished</th><th scope="col">Mode</th><th scope="col" class="num">Blobs deleted</th><th scope="col" class="num">Freed</th><th scope="col" class="num">Uploads purged</th></tr></thead>
      <tbody>${overview.gcRuns.map((run) => html`<tr>
        <td>${timeCell(new Date(run.finishedAt), now)}</td><td>${mode(run.dryRun)}</td>
        <td class="num">${run.blobsDeleted}</td><td class="num">${formatBytes(run.bytesFreed)}</td><td class="num">${run.uploadsPurged}</td>
      </tr>`)}</tbody></table>`}
    <h2>Retention runs</h2>
    ${overview.retentionRuns.length === 0 ? html`<p class="muted" id="retention-runs">None recorded yet.</p>` : html`<table id="retention-runs">
      <thead><tr><th scope="col">Finished</th><th scope="col">Mode</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Manifests</th><th scope="col">Where</th><th scope="col" class="num">Freed</th></tr></thead>
      <tbody>${overview.retentionRuns.map((run) => html`<tr>
        <td>${timeCell(new Date(run.finishedAt), now)}</td><td>${mode(run.dryRun)}</td>
        <td class="num">${run.tagsDeleted}</td><td class="num">${run.manifestsDeleted}</td>
        <td>${run.repositories.length === 0 ? html`<span class="muted">nothing</span>` : html`<ul class="plain">${run.repositories.map((repository) => html`<li>
          <a href=${repositoryHref(repository.name)}>${repository.name}</a>: ${repository.tags.join(', ')}${repository.moreTags > 0 ? ` and ${countOf(repository.moreTags, 'more tag')}` : ''}
        </li>`)}</ul>`}</td>
        <td class="num">${run.gc ? formatBytes(run.gc.bytesFreed) : html`<span class="muted">no GC</span>`}</td>
      </tr>`)}</tbody></table>`}`;
  return renderPage(frame, 'Storage', content);
}

export function registerStorageRoutes(ui: FastifyInstance, deps: UiDeps): void {
  ui.get('/storage', async (request, reply) => {
    if (!mayBrowse(deps, request, reply)) return reply;
    const { auth, repositories, blobs } = deps.services;
    const visible = (await repositories.listRepositories()).filter((name) => auth.authorize(request.uiPrincipal, name, 'pull'));
    const limit = pLimit(4);
    const sized = await Promise.all(visible.map((name) => limit(async () => ({
      name,
      storedBytes: await deps.stats.figures(name).then((figures) => figures.storedBytes, () => null),
    }))));
    sized.sort((a, b) => (b.storedBytes ?? -1) - (a.storedBytes ?? -1) || (a.name < b.name ? -1 : 1));
    const pages = Math.max(1, Math.ceil(sized.length / REPOSITORIES_PER_PAGE));
    const page = Math.min(pageNumber(request), pages);
    const [gcRuns, retentionRuns] = await Promise.all([deps.runs.list('gc'), deps.runs.list('retention')]);
    return sendHtml(reply, storagePage(frameOf(deps, request, reply), {
      totalBytes: blobs.bytesStored,
      repositories: sized.slice((page - 1) * REPOSITORIES_PER_PAGE, page * REPOSITORIES_PER_PAGE),
      repositoryCount: sized.length,
      page,
      gcRuns: gcRuns.slice(0, RUNS_SHOWN),
      // a retention run names repositories and tags: only those the caller may see
      retentionRuns: retentionRuns.slice(0, RUNS_SHOWN).map((run) => ({
        ...run, repositories: run.repositories.filter((repository) => auth.authorize(request.uiPrincipal, repository.name, 'pull')),
      })),
      now: new Date(),
    }));
  });
}
