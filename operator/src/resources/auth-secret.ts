// The registry's htpasswd and access rules, as one Secret. bcrypt hashes are salted, so hashing anew on every
// reconcile would change the Secret each time and roll the pods forever: a hash that still matches its password
// is kept (hashesFor), and the builder itself only renders what it is given.
import type { V1Secret } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import bcrypt from 'bcrypt';
import { stringify } from 'yaml';
import type { AccessRule, Registry } from '../api/v1alpha1/registry.ts';
import { mirrorPrefix } from '../api/v1alpha1/mirrors.ts';
import { nodeAccessEnabled } from '../node-agent/hosts-config.ts';
import { childNames, NODE_PULLER_USER, PULLER_USER } from './names.ts';
import { ownedSecret } from './secret.ts';

export const BCRYPT_COST = 10;

export interface UserCredential {
  name: string;
  password: string;
  access: AccessRule[];
}

export interface HtpasswdEntry {
  name: string;
  hash: string;
}

/** Parses an htpasswd file into user → hash. */
export function parseHtpasswd(text: string | undefined): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const separator = line.indexOf(':');
    if (separator > 0) entries.set(line.slice(0, separator), line.slice(separator + 1).trim());
  }
  return entries;
}

/**
 * Hashes this process has seen match their password, as hash → SHA-256 of the password. Comparing a bcrypt hash
 * costs tens of milliseconds by design; every reconcile of every Registry would pay it for each user. A matching
 * pair stays matching, so it is checked once per process. The password itself is never kept.
 */
const verifiedHashes = new Map<string, string>();
const VERIFIED_HASHES_MAX = 10_000;

function fingerprint(password: string): string {
  return createHash('sha256').update(password).digest('hex');
}

async function stillMatches(password: string, hash: string): Promise<boolean> {
  if (verifiedHashes.get(hash) === fingerprint(password)) return true;
  // native bcrypt runs on libuv's thread pool, off the event loop
  if (!(await bcrypt.compare(password, hash))) return false;
  remember(hash, password);
  return true;
}

function remember(hash: string, password: string): void {
  if (verifiedHashes.size >= VERIFIED_HASHES_MAX) verifiedHashes.clear();
  verifiedHashes.set(hash, fingerprint(password));
}

/** A bcrypt hash per user: the existing one where it still matches the password, otherwise a new one. */
export async function hashesFor(users: UserCredential[], existing: Map<string, string>): Promise<HtpasswdEntry[]> {
  return Promise.all(users.map(async (user) => {
    const current = existing.get(user.name);
    if (current && (await stillMatches(user.password, current))) return { name: user.name, hash: current };
    const hash = await bcrypt.hash(user.password, BCRYPT_COST);
    remember(hash, user.password);
    return { name: user.name, hash };
  }));
}

/** Nodes pull mirrored images as this user, which may pull the mirror prefixes and nothing else. */
export function nodePullerWanted(registry: Registry): boolean {
  return (registry.spec.mirrors ?? []).length > 0 && nodeAccessEnabled(registry);
}

/**
 * The users the registry knows: those of the spec, plus the pull-only user when pull Secrets are copied and the
 * nodes' user of the mirror prefixes.
 */
export function accessRulesOf(registry: Registry): Array<{ user: string; rules: AccessRule[] }> {
  const rules = (registry.spec.auth?.users ?? []).map((user) => ({
    user: user.name,
    rules: user.access ?? [{ repositories: ['**'], actions: ['pull', 'push', 'delete'] as AccessRule['actions'] }],
  }));
  if ((registry.spec.pullSecret?.namespaces ?? []).length > 0) {
    rules.push({ user: PULLER_USER, rules: [{ repositories: ['**'], actions: ['pull'] }] });
  }
  if (nodePullerWanted(registry)) {
    const repositories = registry.spec.mirrors!.map((mirror) => `${mirrorPrefix(mirror.registry)}/**`);
    rules.push({ user: NODE_PULLER_USER, rules: [{ repositories, actions: ['pull'] }] });
  }
  return rules;
}

export function buildAuthSecret(registry: Registry, entries: HtpasswdEntry[]): V1Secret {
  const htpasswd = [...entries].sort((a, b) => a.name.localeCompare(b.name)).map((e) => `${e.name}:${e.hash}`).join('\n');
  const access = stringify({ anonymousPull: registry.spec.auth?.anonymousPull ?? false, users: accessRulesOf(registry) });
  return ownedSecret(registry, childNames(registry.metadata.name).auth, 'Opaque', {
    htpasswd: htpasswd + (htpasswd ? '\n' : ''), 'access.yaml': access,
  });
}

/** The maintenance API's bearer token; the registry re-reads it on every admin call, so no rollout is needed. */
export function buildAdminTokenSecret(registry: Registry, token: string): V1Secret {
  return ownedSecret(registry, childNames(registry.metadata.name).admin, 'Opaque', { token });
}

/** A Secret the operator owns holding a generated password (for users without passwordSecretRef). */
export function buildGeneratedPasswordSecret(registry: Registry, secretName: string, user: string, password: string): V1Secret {
  return ownedSecret(registry, secretName, 'kubernetes.io/basic-auth', { username: user, password });
}
