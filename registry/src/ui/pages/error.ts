// The page for a refusal or a failure inside the UI: a heading, one sentence, a way back. Never a stack or detail.
import { html } from 'htm/preact';
import { renderPage, type Frame } from '../layout.ts';

export function errorPage(frame: Frame, heading: string, message: string): string {
  return renderPage(frame, heading, html`<h1>${heading}</h1><p class="error" role="alert">${message}</p><p><a href="/ui/">Repositories</a></p>`);
}
