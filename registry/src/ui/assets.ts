// The UI's stylesheet and script, read once from the files shipped beside this module (the build copies
// registry/src/ui/assets into dist) and served under a content-hashed name, so a browser may keep them forever and
// a new version is a new URL. No CDN: clusters are often air-gapped.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export interface Asset {
  /** e.g. /ui/assets/ui.3f2a9c01d4.css */
  url: string;
  contentType: string;
  body: Buffer;
  etag: string;
}

export interface Assets {
  stylesheet: Asset;
  script: Asset;
}

const ASSET_DIRECTORY = new URL('./assets/', import.meta.url);
/** a year: the name changes with the content */
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

function loadAsset(file: string, contentType: string): Asset {
  let body: Buffer;
  try {
    body = readFileSync(new URL(file, ASSET_DIRECTORY));
  } catch (error) {
    throw new Error(`the web UI's ${file} is missing from ${ASSET_DIRECTORY.pathname} (${(error as NodeJS.ErrnoException).code}): `
      + 'build with `npm run build`, which copies registry/src/ui/assets into dist, or set ui.enabled: false');
  }
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
  const [base, extension] = file.split('.') as [string, string];
  return { url: `/ui/assets/${base}.${hash}.${extension}`, contentType, body, etag: `"${hash}"` };
}

export function loadAssets(): Assets {
  return {
    stylesheet: loadAsset('ui.css', 'text/css; charset=utf-8'),
    script: loadAsset('ui.js', 'text/javascript; charset=utf-8'),
  };
}

/** Registers GET /assets/<name> in the UI's scope (prefix /ui). */
export function registerAssetRoutes(ui: FastifyInstance, assets: Assets): void {
  const byPath = new Map(Object.values(assets).map((asset: Asset) => [asset.url.slice('/ui'.length), asset]));
  for (const [path, asset] of byPath) {
    ui.get(path, async (request, reply) => {
      reply.header('Cache-Control', IMMUTABLE_CACHE).header('ETag', asset.etag);
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.type(asset.contentType).send(asset.body);
    });
  }
}
