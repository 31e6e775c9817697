// GET /ui/r/<repo>/m/<digest>: a manifest or an index (each platform linked), layers with sizes, the config
// (created, env, entrypoint/cmd, labels, history), annotations, referrers by artifact type, and the raw JSON.
// GET …/raw: the manifest's bytes as text/plain, for a document too large to show whole.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { Descriptor } from '../../oci/manifest.ts';
import { tryParseDigest } from '../../oci/digest.ts';
import { frameOf, sendHtml, type UiDeps } from '../context.ts';
import { countOf, formatBytes, shortDigest, type Truncated } from '../format.ts';
import { configView, type ConfigView, type Listed, type ManifestView } from '../image-view.ts';
import { renderPage, type Frame } from '../layout.ts';
import { deleteManifestHref, imageHref, rawManifestHref, repositoryHref } from '../paths.ts';
import { registryHost } from './repository.ts';
import { copyButton } from '../widgets.ts';

/** the raw JSON shown in the page; beyond it, the raw link */
const RAW_SHOWN_BYTES = 256 * 1024;
/** referrers listed on the page (signatures and attestations pile up on a busy image) */
const MAX_REFERRERS = 200;

export interface ImageDetails {
  repository: string;
  digest: string;
  host: string;
  manifest: ManifestView;
  manifestBytes: number;
  /** pretty-printed JSON, cut at RAW_SHOWN_BYTES */
  rawJson: string;
  rawCut: boolean;
  config?: ConfigView;
  referrers: Descriptor[];
  mayDelete: boolean;
}

function value(entry: Truncated): VNode {
  if (entry.whole === undefined) return html`<span>${entry.shown}</span>`;
  return html`<details><summary>${entry.shown}</summary><span>${entry.whole}</span></details>`;
}

function moreNote(list: Listed<unknown>, noun: string): VNode | null {
  return list.more > 0 ? html`<p class="muted">and ${countOf(list.more, `more ${noun}`, `more ${noun}s`)} (in the raw JSON)</p>` : null;
}

function pairs(id: string, list: Listed<[string, Truncated]>, noun: string): VNode {
  if (list.items.length === 0) return html`<p class="muted" id=${id}>None.</p>`;
  return html`<table id=${id}><thead><tr><th scope="col">Key</th><th scope="col">Value</th></tr></thead><tbody>
    ${list.items.map(([key, entry]) => html`<tr><td><code>${key}</code></td><td>${value(entry)}</td></tr>`)}
  </tbody></table>${moreNote(list, noun)}`;
}

function platforms(details: ImageDetails): VNode {
  const { manifest, repository, config } = details;
  if (manifest.kind === 'image') {
    return html`<ul id="platforms" class="plain"><li>${config?.platform ?? html`<span class="muted">no platform in the config</span>`}</li></ul>`;
  }
  return html`<ul id="platforms" class="plain">
    ${manifest.manifests.items.map((entry) => html`<li>
      <a href=${imageHref(repository, entry.digest)}>${entry.platform ?? entry.artifactType ?? 'unknown platform'}</a>
      <code title=${entry.digest}> ${shortDigest(entry.digest)}</code> <span class="muted">${formatBytes(entry.size)} manifest</span>
    </li>`)}
  </ul>${moreNote(manifest.manifests, 'manifest')}`;
}

function layers(manifest: ManifestView): VNode {
  if (manifest.layers.items.length === 0) return html`<p class="muted" id="layers">No layers.</p>`;
  return html`<table id="layers">
    <thead><tr><th scope="col" class="num">#</th><th scope="col">Digest</th><th scope="col">Media type</th><th scope="col" class="num">Size</th></tr></thead>
    <tbody>${manifest.layers.items.map((layer, i) => html`<tr>
      <td class="num">${i + 1}</td><td><code title=${layer.digest}>${shortDigest(layer.digest)}</code></td>
      <td>${layer.mediaType}</td><td class="num">${formatBytes(layer.size)}</td>
    </tr>`)}</tbody>
    <tfoot><tr><th scope="row" colspan="3">Total with config</th><td class="num">${formatBytes(manifest.imageBytes)}</td></tr></tfoot>
  </table>${moreNote(manifest.layers, 'layer')}`;
}

function configSection(config: ConfigView): VNode {
  const field = (label: string, content: VNode | string | undefined) =>
    content === undefined ? null : html`<dt>${label}</dt><dd>${content}</dd>`;
  return html`<section id="config" aria-labelledby="config-heading">
    <h2 id="config-heading">Config</h2>
    <dl class="fields">
      ${field('Platform', config.platform)}${field('Created', config.created)}${field('Author', config.author)}
      ${field('User', config.user)}${field('Working directory', config.workingDir)}
      ${field('Entrypoint', config.entrypoint ? html`<code>${value(config.entrypoint)}</code>` : undefined)}
      ${field('Command', config.cmd ? html`<code>${value(config.cmd)}</code>` : undefined)}
      ${field('Exposed ports', config.exposedPorts.items.length ? config.exposedPorts.items.join(', ') : undefined)}
    </dl>
    <h3>Environment</h3>
    ${config.env.items.length === 0 ? html`<p class="muted">None.</p>` : html`<ul id="env" class="plain">${config.env.items.map((entry) => html`<li><code>${value(entry)}</code></li>`)}</ul>`}
    ${moreNote(config.env, 'variable')}
    <h3>Labels</h3>
    ${pairs('labels', config.labels, 'label')}
    <h3>History</h3>
    ${config.history.items.length === 0 ? html`<p class="muted">None.</p>` : html`<table id="history">
      <thead><tr><th scope="col">Created</th><th scope="col">Created by</th><th scope="col">Layer</th></tr></thead>
      <tbody>${config.history.items.map((step) => html`<tr><td>${step.created ?? ''}</td><td><code>${value(step.createdBy)}</code></td><td>${step.emptyLayer ? 'empty' : 'yes'}</td></tr>`)}</tbody>
    </table>`}
    ${moreNote(config.history, 'step')}
  </section>`;
}

function referrersSection(details: ImageDetails): VNode {
  const { referrers, repository } = details;
  const groups = new Map<string, Descriptor[]>();
  for (const referrer of referrers.slice(0, MAX_REFERRERS)) {
    const type = referrer.artifactType ?? referrer.mediaType;
    groups.set(type, [...groups.get(type) ?? [], referrer]);
  }
  return html`<section id="referrers" aria-labelledby="referrers-heading">
    <h2 id="referrers-heading">Referrers</h2>
    ${referrers.length === 0 ? html`<p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>` : [...groups].map(([type, entries]) => html`
      <h3>${type}</h3>
      <ul class="plain">${entries.map((entry) => html`<li>
        <a href=${imageHref(repository, entry.digest)}><code>${shortDigest(entry.digest)}</code></a>
        <span class="muted"> ${formatBytes(entry.size)}</span>
      </li>`)}</ul>`)}
    ${referrers.length > MAX_REFERRERS ? html`<p class="muted">and ${countOf(referrers.length - MAX_REFERRERS, 'more referrer')}</p>` : null}
  </section>`;
}

export function imagePage(frame: Frame, details: ImageDetails): string {
  const { repository, digest, manifest, host } = details;
  const pull = `${host}/${repository}@${digest}`;
  const content = html`
    <p><a href=${repositoryHref(repository)}>${repository}</a></p>
    <h1>${manifest.kind === 'index' ? 'Index' : 'Image'} <code>${shortDigest(digest)}</code></h1>
    <dl class="fields">
      <dt>Digest</dt><dd><code id="digest">${digest}</code></dd>
      <dt>Media type</dt><dd>${manifest.mediaType}</dd>
      ${manifest.artifactType ? html`<dt>Artifact type</dt><dd>${manifest.artifactType}</dd>` : null}
      <dt>Manifest size</dt><dd>${formatBytes(details.manifestBytes)}</dd>
      ${manifest.subject ? html`<dt>Refers to</dt><dd><a id="subject" href=${imageHref(repository, manifest.subject)}><code>${shortDigest(manifest.subject)}</code></a></dd>` : null}
      <dt>Pull</dt><dd><code>podman pull ${pull}</code> ${copyButton(`podman pull ${pull}`, 'Copy', 'Copy podman pull command')}
        ${copyButton(`docker pull ${pull}`, 'Copy for docker', 'Copy docker pull command')}</dd>
    </dl>
    ${details.mayDelete ? html`<p><a href=${deleteManifestHref(repository, digest)}>Delete this manifest…</a></p>` : null}
    <h2>Platforms</h2>
    ${platforms(details)}
    ${manifest.kind === 'image' ? html`<h2>Layers</h2>${layers(manifest)}` : null}
    ${details.config ? configSection(details.config) : null}
    <h2>Annotations</h2>
    ${pairs('annotations', manifest.annotations, 'annotation')}
    ${referrersSection(details)}
    <details id="raw"><summary>Raw manifest JSON</summary>
      <pre>${details.rawJson}</pre>
      ${details.rawCut ? html`<p class="muted">Cut at ${formatBytes(RAW_SHOWN_BYTES)}: <a href=${rawManifestHref(repository, digest)}>the whole manifest</a>.</p>` : null}
    </details>`;
  return renderPage(frame, `${repository}@${shortDigest(digest)}`, content);
}

function prettyJson(document: unknown, content: Buffer): { rawJson: string; rawCut: boolean } {
  // pretty-printing a manifest near the size limit would make a page of many megabytes: show its start only
  const text = content.length <= RAW_SHOWN_BYTES ? JSON.stringify(document, null, 2) : content.toString('utf8', 0, RAW_SHOWN_BYTES);
  return text.length <= RAW_SHOWN_BYTES ? { rawJson: text, rawCut: content.length > RAW_SHOWN_BYTES } : { rawJson: text.slice(0, RAW_SHOWN_BYTES), rawCut: true };
}

/** null when the repository holds no such manifest */
export async function showImage(deps: UiDeps, request: FastifyRequest, reply: FastifyReply, repository: string, digest: string): Promise<FastifyReply | null> {
  const { repositories, auth } = deps.services;
  const parsed = tryParseDigest(digest)!;
  const record = await repositories.getManifest(repository, parsed);
  const manifest = record ? await deps.summaries.manifest(digest, record.mediaType) : null;
  if (!record || !manifest) return null;
  const configDescriptor = manifest.view.config;
  const configDocument = configDescriptor ? await deps.summaries.config(configDescriptor.digest, configDescriptor.mediaType) : null;
  const referrers = await repositories.listReferrers(repository, parsed);
  return sendHtml(reply, imagePage(frameOf(deps, request, reply), {
    repository,
    digest,
    host: registryHost(request.headers.host),
    manifest: manifest.view,
    manifestBytes: manifest.content.length,
    ...prettyJson(manifest.document, manifest.content),
    ...(configDocument ? { config: configView(configDocument) } : {}),
    referrers,
    mayDelete: auth.authorize(request.uiPrincipal, repository, 'delete'),
  }));
}

/** the manifest's own bytes, as text that no browser renders as a page (CSP sandbox, nosniff) */
export async function sendRawManifest(deps: UiDeps, reply: FastifyReply, repository: string, digest: string): Promise<FastifyReply | null> {
  const parsed = tryParseDigest(digest)!;
  const record = await deps.services.repositories.getManifest(repository, parsed);
  if (!record) return null;
  const content = await deps.services.blobs.getContent(parsed);
  return reply.header('Content-Security-Policy', "default-src 'none'; sandbox").type('text/plain; charset=utf-8').send(content);
}
