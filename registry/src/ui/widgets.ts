// Small pieces several pages share: a time cell, a pager, a copy button.
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { formatRelative, formatTime } from './format.ts';

/** "3 hours ago", with the exact UTC time on hover and in the datetime attribute; "never" for none */
export function timeCell(time: Date | null, now: Date): VNode {
  if (!time) return html`<span class="muted">never</span>`;
  return html`<time datetime=${time.toISOString()} title=${formatTime(time)}>${formatRelative(time, now)}</time>`;
}

export function pager(options: { page: number; pages: number; href: (page: number) => string }): VNode | null {
  const { page, pages, href } = options;
  if (pages <= 1) return null;
  return html`<nav class="pager" aria-label="pages">
    ${page > 1 ? html`<a href=${href(page - 1)} rel="prev">Previous page</a>` : null}
    <span>Page ${page} of ${pages}</span>
    ${page < pages ? html`<a href=${href(page + 1)} rel="next">Next page</a>` : null}
  </nav>`;
}

/** hidden until ui.js shows it: without scripts the command is still there to select and copy */
export function copyButton(text: string, visible: string, label: string): VNode {
  return html`<button type="button" class="copy" data-copy=${text} aria-label=${label} hidden>${visible}</button>`;
}
