// Manifests are immutable by digest, so their bytes can be served from memory. A byte-bounded LRU.
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
    this.entries.set(digest, content);
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
