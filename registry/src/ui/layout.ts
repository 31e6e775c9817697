// The frame of every page: head with the hashed assets, the header (title, navigation, who is logged in, the
// logout button), then the page's own content. Rendered by preact-render-to-string, which escapes every text and
// attribute value; nothing here or in the pages uses dangerouslySetInnerHTML.
import { html } from 'htm/preact';
import type { ComponentChildren, VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { Assets } from './assets.ts';

/** Who is looking, as every page needs it. */
export interface Viewer {
  /** null: anonymous */
  user: string | null;
  /** whether the registry has users at all (else everyone may do everything and there is no login) */
  loginEnabled: boolean;
  /** for the hidden field of every form */
  csrfToken: string;
}

export interface Frame {
  /** the registry's title (ui.title) */
  title: string;
  assets: Assets;
  viewer: Viewer;
}

export function csrfField(viewer: Viewer): VNode {
  return html`<input type="hidden" name="_csrf" value=${viewer.csrfToken} />`;
}

function account(viewer: Viewer): VNode | null {
  if (!viewer.loginEnabled) return null;
  if (viewer.user === null) return html`<div class="who"><span>anonymous</span><a href="/ui/login">Log in</a></div>`;
  return html`<div class="who">
    <span id="current-user">${viewer.user}</span>
    <form class="inline" method="post" action="/ui/logout">${csrfField(viewer)}<button id="logout" type="submit">Log out</button></form>
  </div>`;
}

/** The whole HTML document of a page titled `heading`. */
export function renderPage(frame: Frame, heading: string, content: ComponentChildren): string {
  const document = html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${heading} · ${frame.title}</title>
      <link rel="stylesheet" href=${frame.assets.stylesheet.url} />
      <link rel="icon" href="data:," />
      <script src=${frame.assets.script.url} defer></script>
    </head>
    <body>
      <header class="top">
        <a class="brand" href="/ui/">${frame.title}</a>
        <nav aria-label="main"><a href="/ui/">Repositories</a><a href="/ui/storage">Storage</a></nav>
        ${account(frame.viewer)}
      </header>
      <main>${content}</main>
    </body>
  </html>`;
  return `<!doctype html>${render(document)}`;
}
