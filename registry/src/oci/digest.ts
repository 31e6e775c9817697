// Digests as the OCI image spec defines them: `algorithm:encoded`. We accept the two registered algorithms.
import { createHash, type Hash } from 'node:crypto';
import { ErrorCodes, registryError } from '../errors.ts';

export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_PATTERN = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** the canonical `algorithm:hex` string */
  value: string;
}

export function tryParseDigest(value: string): ParsedDigest | null {
  const match = DIGEST_PATTERN.exec(value);
  if (!match) return null;
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2]!;
  if (hex.length !== ENCODED_LENGTH[algorithm]) return null;
  return { algorithm, hex, value };
}

/** Parses a digest given by a client; a malformed one is the client's error (DIGEST_INVALID). */
export function parseDigest(value: string | undefined): ParsedDigest {
  const parsed = value === undefined ? null : tryParseDigest(value);
  if (!parsed) throw registryError(ErrorCodes.DIGEST_INVALID, 'invalid digest', { digest: value ?? null });
  return parsed;
}

export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== null;
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(content: Buffer, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`;
}
