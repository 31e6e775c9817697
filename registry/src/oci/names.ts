// Repository names and tags, by the grammar of the OCI distribution spec.
import { ErrorCodes, registryError } from '../errors.ts';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's limit; paths longer than this break filesystems and proxies */
const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

export function assertRepositoryName(name: string): void {
  if (!isValidRepositoryName(name)) {
    throw registryError(ErrorCodes.NAME_INVALID, 'invalid repository name', { name });
  }
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export function assertTag(tag: string): void {
  if (!isValidTag(tag)) throw registryError(ErrorCodes.TAG_INVALID, 'invalid tag', { tag });
}
