// GET /ui/r/<repo>: the repository's tags with digest, size, platforms, pushed and last-pulled times, and pull
// commands to copy. Sorted by name, a page is read from the tag listing after the last name shown (?after=), so
// 10,000 tags are paged without reading every tag's record; sorted by pushed or pulled time (?sort=), every tag
// record is read to sort them, then paged by number.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html } from 'htm/preact';
import pLimit from 'p-limit';
import type { PullTimes, TagRecord } from '../../content/repository-store.ts';
import { frameOf, pageNumber, queryValue, sendHtml, type UiDeps } from '../context.ts';
import { countOf, formatBytes, shortDigest } from '../format.ts';
import type { ImageSummary } from '../image-summaries.ts';
import { renderPage, type Frame } from '../layout.ts';
import { deleteTagHref, imageHref, repositoryHref } from '../paths.ts';
import type { RepositoryFigures } from '../repository-stats.ts';
import { copyButton, pager, timeCell } from '../widgets.ts';

export const TAGS_PER_PAGE = 50;
export const TAG_SORTS = ['name', 'pushed', 'pulled'] as const;
export type TagSort = (typeof TAG_SORTS)[number];
const IO_CONCURRENCY = 8;

export interface TagRow {
  tag: string;
  digest: string;
  pushedAt: Date;
  pulledAt: Date | null;
  image: ImageSummary;
}

export interface TagListing {
  repository: string;
  /** registry host as the browser reached it, for pull commands */
  host: string;
  figures: RepositoryFigures;
  sort: TagSort;
  rows: TagRow[];
  /** sorted by name: the cursor of this page, and whether a next page exists */
  after?: string;
  more: boolean;
  /** sorted by time: page number */
  page: number;
  mayDelete: boolean;
  /** what the last action did, e.g. "Deleted tag v1" */
  notice?: string;
  now: Date;
}

function sortHref(repository: string, sort: TagSort): string {
  return sort === 'name' ? repositoryHref(repository) : `${repositoryHref(repository)}?sort=${sort}`;
}

function tagPager(listing: TagListing) {
  const { repository, sort, rows, more, page, figures } = listing;
  if (sort === 'name') {
    const last = rows.at(-1)?.tag;
    if (listing.after === undefined && !more) return null;
    return html`<nav class="pager" aria-label="pages">
      ${listing.after !== undefined ? html`<a href=${repositoryHref(repository)}>First page</a>` : null}
      ${more && last ? html`<a href=${`${repositoryHref(repository)}?${new URLSearchParams({ after: last })}`} rel="next">Next page</a>` : null}
    </nav>`;
  }
  const pages = Math.max(1, Math.ceil(figures.tags / TAGS_PER_PAGE));
  return pager({ page, pages, href: (target) => `${sortHref(repository, sort)}&page=${target}` });
}

export function repositoryPage(frame: Frame, listing: TagListing): string {
  const { repository, host, figures, sort, rows, now } = listing;
  const sortLink = (target: TagSort, label: string) => target === sort
    ? html`<th scope="col" aria-sort=${target === 'name' ? 'ascending' : 'descending'}>${label}</th>`
    : html`<th scope="col"><a href=${sortHref(repository, target)}>${label}</a></th>`;
  const content = html`
    <h1>${repository}</h1>
    ${listing.notice ? html`<p class="notice" role="status">${listing.notice}</p>` : null}
    <p class="muted" id="repository-summary">${countOf(figures.tags, 'tag')} · ${countOf(figures.manifests, 'manifest')} · ${formatBytes(figures.storedBytes)} stored</p>
    ${rows.length === 0 ? html`<p>No tags.</p>` : html`
    <table id="tags">
      <thead><tr>
        ${sortLink('name', 'Tag')}<th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col">Platforms</th>
        ${sortLink('pushed', 'Pushed')}${sortLink('pulled', 'Last pulled')}<th scope="col">Pull</th>
        ${listing.mayDelete ? html`<th scope="col"><span class="muted">Delete</span></th>` : null}
      </tr></thead>
      <tbody>
        ${rows.map((row) => {
          const pull = `${host}/${repository}:${row.tag}`;
          return html`<tr>
            <td><a href=${imageHref(repository, row.digest)}>${row.tag}</a></td>
            <td><code title=${row.digest}>${shortDigest(row.digest)}</code></td>
            <td class="num">${row.image.kind === 'missing' ? '?' : formatBytes(row.image.bytes)}</td>
            <td>${row.image.platforms.join(', ') || (row.image.artifactType ? html`<span class="muted">${row.image.artifactType}</span>` : '')}</td>
            <td>${timeCell(row.pushedAt, now)}</td>
            <td>${timeCell(row.pulledAt, now)}</td>
            <td class="pull">
              <code>podman pull ${pull}</code> ${copyButton(`podman pull ${pull}`, 'Copy', `Copy podman pull command for ${row.tag}`)}
              ${copyButton(`docker pull ${pull}`, 'Copy for docker', `Copy docker pull command for ${row.tag}`)}
            </td>
            ${listing.mayDelete ? html`<td><a href=${deleteTagHref(repository, row.tag)} aria-label=${`Delete tag ${row.tag}`}>Delete</a></td>` : null}
          </tr>`;
        })}
      </tbody>
    </table>`}
    ${tagPager(listing)}`;
  return renderPage(frame, repository, content);
}

function latest(...times: Array<string | undefined>): Date | null {
  const newest = times.filter((time): time is string => time !== undefined).sort().at(-1);
  return newest ? new Date(newest) : null;
}

/** The Host header as a registry address for a pull command; anything odd in it gives a placeholder. */
export function registryHost(host: string | undefined): string {
  return host && /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(host) ? host : 'REGISTRY';
}

export async function showRepository(deps: UiDeps, request: FastifyRequest, reply: FastifyReply, repository: string, notice?: string): Promise<FastifyReply> {
  const { repositories, auth } = deps.services;
  const sortParam = queryValue(request, 'sort');
  const sort: TagSort = (TAG_SORTS as readonly string[]).includes(sortParam ?? '') ? sortParam as TagSort : 'name';
  const [figures, pulls] = await Promise.all([deps.stats.figures(repository), repositories.pullTimes(repository)]);
  const limit = pLimit(IO_CONCURRENCY);
  let named: Array<[string, TagRecord]>;
  let more = false;
  const page = pageNumber(request);
  const after = queryValue(request, 'after');
  if (sort === 'name') {
    const listing = await repositories.tagPage(repository, { ...(after ? { after } : {}), limit: TAGS_PER_PAGE });
    more = listing.more;
    const records = await Promise.all(listing.items.map((tag) => limit(() => repositories.getTag(repository, tag))));
    named = listing.items.map((tag, i): [string, TagRecord | null] => [tag, records[i]!])
      .filter((entry): entry is [string, TagRecord] => entry[1] !== null);
  } else {
    named = sortedByTime([...await repositories.tagRecords(repository)], pulls, sort)
      .slice((page - 1) * TAGS_PER_PAGE, page * TAGS_PER_PAGE);
  }
  const rows = await Promise.all(named.map(([tag, record]) => limit(async (): Promise<TagRow> => ({
    tag,
    digest: record.digest,
    pushedAt: new Date(record.pushedAt),
    pulledAt: latest(pulls.tags[tag], pulls.manifests[record.digest]),
    image: await deps.summaries.summary(repository, record.digest),
  }))));
  return sendHtml(reply, repositoryPage(frameOf(deps, request, reply), {
    repository,
    host: registryHost(request.headers.host),
    figures,
    sort,
    rows,
    ...(sort === 'name' && after ? { after } : {}),
    more,
    page,
    mayDelete: auth.authorize(request.uiPrincipal, repository, 'delete'),
    ...(notice ? { notice } : {}),
    now: new Date(),
  }));
}

/** newest first; never pulled last; ties by name */
export function sortedByTime(records: Array<[string, TagRecord]>, pulls: PullTimes, sort: 'pushed' | 'pulled'): Array<[string, TagRecord]> {
  const timeOf = ([tag, record]: [string, TagRecord]) => sort === 'pushed'
    ? record.pushedAt
    : latest(pulls.tags[tag], pulls.manifests[record.digest])?.toISOString() ?? '';
  return records
    .map((entry) => ({ entry, time: timeOf(entry) }))
    .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.entry[0] < b.entry[0] ? -1 : 1))
    .map(({ entry }) => entry);
}
