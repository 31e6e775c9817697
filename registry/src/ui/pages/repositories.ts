// GET /ui/: the repositories the caller may pull, searched by substring (?q=) and paged 50 at a time (?page=),
// each with its tag count, stored size, last push and last pull.
import type { FastifyInstance } from 'fastify';
import { html } from 'htm/preact';
import pLimit from 'p-limit';
import { frameOf, mayBrowse, pageNumber, queryValue, sendHtml, type UiDeps } from '../context.ts';
import { countOf, formatBytes } from '../format.ts';
import { renderPage, type Frame } from '../layout.ts';
import type { RepositoryFigures } from '../repository-stats.ts';
import { repositoryHref } from '../paths.ts';
import { pager, timeCell } from '../widgets.ts';

export const REPOSITORIES_PER_PAGE = 50;
/** repositories whose figures are computed at once */
const FIGURES_CONCURRENCY = 4;

export interface RepositoryRow {
  name: string;
  figures: RepositoryFigures | null;
}

export interface RepositoryListing {
  query: string;
  page: number;
  /** repositories matching the search that the caller may see */
  total: number;
  rows: RepositoryRow[];
  now: Date;
}

export function repositoriesPage(frame: Frame, listing: RepositoryListing): string {
  const { query, page, total, rows, now } = listing;
  const pages = Math.max(1, Math.ceil(total / REPOSITORIES_PER_PAGE));
  const pageHref = (target: number) => `/ui/?${new URLSearchParams({ ...(query ? { q: query } : {}), page: String(target) })}`;
  const content = html`
    <h1>Repositories</h1>
    <form class="search" method="get" action="/ui/" role="search">
      <label for="q" class="muted">Search</label>
      <input id="q" type="search" name="q" value=${query} placeholder="repository name contains…" />
      <button type="submit">Search</button>
    </form>
    <p class="muted" id="repository-count">${countOf(total, 'repository', 'repositories')}${query ? html` matching “${query}”` : null}</p>
    ${rows.length === 0 ? html`<p>${query ? 'No repository matches.' : 'No repositories yet: push an image to see it here.'}</p>` : html`
    <table id="repositories">
      <thead><tr><th scope="col">Repository</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th><th scope="col">Last push</th><th scope="col">Last pull</th></tr></thead>
      <tbody>
        ${rows.map(({ name, figures }) => html`<tr>
          <td><a href=${repositoryHref(name)}>${name}</a></td>
          <td class="num">${figures ? figures.tags : '?'}</td>
          <td class="num">${figures ? formatBytes(figures.storedBytes) : '?'}</td>
          <td>${timeCell(figures?.lastPushedAt ?? null, now)}</td>
          <td>${timeCell(figures?.lastPulledAt ?? null, now)}</td>
        </tr>`)}
      </tbody>
    </table>`}
    ${pager({ page, pages, href: pageHref })}`;
  return renderPage(frame, 'Repositories', content);
}

export function registerRepositoryListRoutes(ui: FastifyInstance, deps: UiDeps): void {
  const list = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    if (!mayBrowse(deps, request, reply)) return reply;
    const query = (queryValue(request, 'q') ?? '').trim().slice(0, 256);
    const needle = query.toLowerCase();
    const { auth, repositories } = deps.services;
    const visible = (await repositories.listRepositories())
      .filter((name) => (!needle || name.includes(needle)) && auth.authorize(request.uiPrincipal, name, 'pull'));
    const pages = Math.max(1, Math.ceil(visible.length / REPOSITORIES_PER_PAGE));
    const page = Math.min(pageNumber(request), pages);
    const names = visible.slice((page - 1) * REPOSITORIES_PER_PAGE, page * REPOSITORIES_PER_PAGE);
    const limit = pLimit(FIGURES_CONCURRENCY);
    const rows = await Promise.all(names.map((name) => limit(async (): Promise<RepositoryRow> => ({
      name,
      // one repository whose figures fail to load still lists, with ? for them
      figures: await deps.stats.figures(name).catch((error: unknown) => {
        request.log.warn({ err: error, repository: name }, 'repository figures failed');
        return null;
      }),
    }))));
    return sendHtml(reply, repositoriesPage(frameOf(deps, request, reply), { query, page, total: visible.length, rows, now: new Date() }));
  };
  ui.get('/', { prefixTrailingSlash: 'slash' }, list);
}
