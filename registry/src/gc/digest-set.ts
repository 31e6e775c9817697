// A set of digests kept as their binary form: a collection's mark set may name most blobs of the store, and
// `sha256:<64 hex>` strings take twice the memory of the 32 bytes they encode.
export class DigestSet {
  private readonly keys = new Set<string>();

  add(digest: string): void {
    this.keys.add(keyOf(digest));
  }

  has(digest: string): boolean {
    return this.keys.has(keyOf(digest));
  }

  get size(): number {
    return this.keys.size;
  }
}

/** sha256 digests as their 32 bytes in a one-byte string; other algorithms keep their name, so none collide */
function keyOf(digest: string): string {
  const colon = digest.indexOf(':');
  const binary = Buffer.from(digest.slice(colon + 1), 'hex').toString('latin1');
  return colon === 6 && digest.startsWith('sha256') ? binary : `${digest.slice(0, colon)}:${binary}`;
}
