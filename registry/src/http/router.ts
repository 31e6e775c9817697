// Maps a /v2 path to a route group and its parameters. Repository names contain slashes, so the path is matched
// from its end, the way distribution's router does.
export type RouteGroup = 'base' | 'catalog' | 'tags' | 'manifests' | 'blobs' | 'uploads' | 'referrers';

export interface RouteMatch {
  group: RouteGroup;
  name?: string;
  reference?: string;
  digest?: string;
  uuid?: string;
}

const ROUTES: Array<{ group: RouteGroup; pattern: RegExp; params: Array<'name' | 'reference' | 'digest' | 'uuid'> }> = [
  { group: 'base', pattern: /^\/v2\/?$/, params: [] },
  { group: 'catalog', pattern: /^\/v2\/_catalog$/, params: [] },
  { group: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, params: ['name'] },
  { group: 'manifests', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, params: ['name', 'reference'] },
  { group: 'uploads', pattern: /^\/v2\/(.+)\/blobs\/uploads\/?([^/]*)$/, params: ['name', 'uuid'] },
  { group: 'blobs', pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, params: ['name', 'digest'] },
  { group: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, params: ['name', 'digest'] },
];

/**
 * Matches the path as sent, then decodes each parameter: an encoded `/` or `..` stays inside its parameter,
 * where name, digest and session-id validation reject it, instead of changing which route matches.
 */
export function matchRoute(pathname: string): RouteMatch | null {
  for (const route of ROUTES) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const result: RouteMatch = { group: route.group };
    for (const [i, param] of route.params.entries()) {
      const value = match[i + 1];
      if (!value) continue;
      try {
        result[param] = decodeURIComponent(value);
      } catch {
        return null;
      }
    }
    return result;
  }
  return null;
}
