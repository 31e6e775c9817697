// How a mirrored registry's host, its repository prefix here and the upstream's repository names relate. Shared
// by the registry (routing) and the operator (it derives the prefix from the host the nodes pull by).
import { isValidRepositoryName } from '../oci/names.ts';

/** Docker Hub's hosts: a one-component repository there lives under `library/` (`busybox` → `library/busybox`). */
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The repository prefix of a registry host: `docker.io` → `docker.io`, `10.0.0.1:5000` → `10.0.0.1-5000`. */
export function mirrorNameOfHost(host: string): string {
  return host.toLowerCase().replace(/:/g, '-');
}

export interface MirrorTarget<M> {
  mirror: M;
  /** the repository's name at the upstream */
  upstreamRepository: string;
}

/** The mirror whose prefix a repository is under (`<prefix>/<rest>`), and the upstream's name for it. */
export function findMirror<M extends { name: string }>(mirrors: readonly M[], repository: string): MirrorTarget<M> | null {
  for (const mirror of mirrors) {
    if (!repository.startsWith(`${mirror.name}/`)) continue;
    const rest = repository.slice(mirror.name.length + 1);
    const upstreamRepository = DOCKER_HUB_NAMES.has(mirror.name) && !rest.includes('/') ? `library/${rest}` : rest;
    return { mirror, upstreamRepository };
  }
  return null;
}

/**
 * The repository a request names once containerd's `ns` parameter (the host it meant to pull from) is applied:
 * `/v2/library/busybox/...?ns=docker.io` is `docker.io/library/busybox`. Unchanged when `ns` names no mirror or
 * the name already carries the mirror's prefix (a client configured with the prefix in the path).
 */
export function routeByNamespace<M extends { name: string }>(mirrors: readonly M[], repository: string, ns: string | undefined): string {
  if (!ns) return repository;
  const prefix = mirrorNameOfHost(ns);
  const mirror = mirrors.find((candidate) => candidate.name === prefix);
  if (!mirror || repository.startsWith(`${mirror.name}/`)) return repository;
  return `${mirror.name}/${repository}`;
}

/** Why a mirror prefix is unusable, or null: a repository name (path components, no ':'). */
export function invalidMirrorName(name: string): string | null {
  if (!isValidRepositoryName(name)) return 'must be a repository name prefix: lowercase path components such as docker.io or 10.0.0.1-5000 (no ":")';
  return null;
}
