// Manifests are immutable by digest, so their bytes can be served from memory. A byte-bounded LRU.

/**
 * The bytes in a buffer of their own. A manifest arrives as a view of a larger buffer (a request body or an S3
 * answer is a slice of a 64 KiB socket read), and a view keeps all of it alive: measured, 1,000 cached manifests of
 * 1 KiB held 45 MiB, beyond what the budget counts.
 */
function compact(content: Buffer): Buffer {
  if (content.buffer.byteLength === content.length) return content;
  const own = Buffer.allocUnsafeSlow(content.length);
  content.copy(own);
  return own;
}

export class ManifestCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  private readonly budget: number;

  constructor(budgetBytes: number) {
    this.budget = budgetBytes;
  }

  get(digest: string): Buffer | undefined {
    const content = this.entries.get(digest);
    if (content) {
      this.entries.delete(digest);
      this.entries.set(digest, content);
    }
    return content;
  }

  set(digest: string, content: Buffer): void {
    if (content.length > this.budget || this.entries.has(digest)) return;
    this.entries.set(digest, compact(content));
    this.bytes += content.length;
    for (const [oldest, value] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(oldest);
      this.bytes -= value.length;
    }
  }

  delete(digest: string): void {
    const content = this.entries.get(digest);
    if (content) {
      this.entries.delete(digest);
      this.bytes -= content.length;
    }
  }
}
