// The UI's URLs for repositories and images, both ways: built for links, parsed from requests. Repository names
// hold slashes, so what follows a name is told apart by what a name can never hold: a digest has a colon, and
// tag deletion sits under a `-` component, which no repository name component can be.
import { tryParseDigest } from '../oci/digest.ts';
import { isValidRepositoryName, isValidTag } from '../oci/names.ts';

export type RepositoryPath =
  | { page: 'repository'; repository: string }
  | { page: 'image' | 'raw' | 'delete-manifest'; repository: string; digest: string }
  | { page: 'delete-tag'; repository: string; tag: string };

/** names, tags and digests are URL-safe by the spec's rules; encoding anyway keeps a link a link */
function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

export function repositoryHref(repository: string): string {
  return `/ui/r/${encodePath(repository)}`;
}

/** a digest's colon stays readable in the link: a path may hold one after its first segment */
export function imageHref(repository: string, digest: string): string {
  return `${repositoryHref(repository)}/m/${encodeURIComponent(digest).replace('%3A', ':')}`;
}

export function rawManifestHref(repository: string, digest: string): string {
  return `${imageHref(repository, digest)}/raw`;
}

export function deleteManifestHref(repository: string, digest: string): string {
  return `${imageHref(repository, digest)}/delete`;
}

export function deleteTagHref(repository: string, tag: string): string {
  return `${repositoryHref(repository)}/-/tags/${encodeURIComponent(tag)}/delete`;
}

const DIGEST_PAGES: Array<[RegExp, 'image' | 'raw' | 'delete-manifest']> = [
  [/^(.+)\/m\/([^/]+)$/, 'image'],
  [/^(.+)\/m\/([^/]+)\/raw$/, 'raw'],
  [/^(.+)\/m\/([^/]+)\/delete$/, 'delete-manifest'],
];

/** What a path below /ui/r/ (without the query) names, or null for none: invalid names, tags and digests included. */
export function parseRepositoryPath(rest: string): RepositoryPath | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return null;
  }
  const tagDelete = /^(.+)\/-\/tags\/([^/]+)\/delete$/.exec(decoded);
  if (tagDelete) {
    const [, repository, tag] = tagDelete as unknown as [string, string, string];
    // a `-` component makes this no repository name in any case
    return isValidRepositoryName(repository) && isValidTag(tag) ? { page: 'delete-tag', repository, tag } : null;
  }
  for (const [pattern, page] of DIGEST_PAGES) {
    const match = pattern.exec(decoded);
    if (!match) continue;
    const [, repository, digest] = match as unknown as [string, string, string];
    // `a/m/b` is a repository: what follows `m/` is no digest
    if (tryParseDigest(digest)) return isValidRepositoryName(repository) ? { page, repository, digest } : null;
  }
  return isValidRepositoryName(decoded) ? { page: 'repository', repository: decoded } : null;
}
