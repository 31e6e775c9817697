// Coordination between an online garbage collection and the requests served meanwhile, in this process.
//
// Why this is safe: a sweep removes a blob only if nobody has "protected" it since the collection started, and
// every path that makes a blob live again protects it first: a manifest PUT protects each digest it references
// before checking that it exists, a blob HEAD/GET protects what the client is about to reference (a client that
// finds a blob skips uploading it), a mount protects its source, and an upload commit protects its digest. The
// check-and-delete in the sweeper is synchronous up to the point where the deletion starts, and protect() waits
// for a deletion already under way, so the existence check after it sees the truth: either the blob survives,
// or it is gone and the client gets BLOB_UNKNOWN / MANIFEST_BLOB_UNKNOWN and uploads it again (as Harbor does).
//
// Protection lasts for one run; a client that checked a blob just *before* a run starts relies on the grace
// period instead: blobs modified, or touched through this process (an existing blob uploaded again, HEAD, mount),
// within the grace period are never swept. Touches are kept in memory, so they cost no disk write; the file's
// mtime covers writers in other processes.
const MAX_TOUCHES = 200_000;

export class GcGuard {
  private running = false;
  private readonly protectedDigests = new Set<string>();
  private readonly deleting = new Map<string, Promise<void>>();
  /** digest → last touch (ms), oldest first */
  private readonly touches = new Map<string, number>();

  get active(): boolean {
    return this.running;
  }

  begin(): void {
    if (this.running) throw new Error('a garbage collection is already running');
    this.running = true;
    this.protectedDigests.clear();
  }

  end(): void {
    this.running = false;
    this.protectedDigests.clear();
  }

  /** Marks a digest as about to be referenced; resolves once no deletion of it is in flight. */
  async protect(digest: string, now = Date.now()): Promise<void> {
    this.touches.delete(digest);
    this.touches.set(digest, now);
    if (this.touches.size > MAX_TOUCHES) this.touches.delete(this.touches.keys().next().value!);
    if (!this.running) return;
    this.protectedDigests.add(digest);
    const inFlight = this.deleting.get(digest);
    if (inFlight) await inFlight;
  }

  /** when the digest was last protected (touched) through this process, if it still remembers */
  lastTouched(digest: string): number | undefined {
    return this.touches.get(digest);
  }

  /** Deletes unless the digest was protected; the decision and the start of the deletion are not interleaved. */
  async deleteUnlessProtected(digest: string, remove: () => Promise<void>): Promise<boolean> {
    if (this.protectedDigests.has(digest)) return false;
    const deletion = remove().finally(() => this.deleting.delete(digest));
    this.deleting.set(digest, deletion.catch(() => undefined));
    await deletion;
    return true;
  }
}
