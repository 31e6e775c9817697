// Coordination between an online garbage collection and the requests served meanwhile, in this process (across
// processes that share the storage, gc-fence.ts does the same through objects in storage).
//
// Why this is safe: a sweep removes a blob, or a repository's link to one, only if nobody has "protected" the
// digest since the collection started and no request holds it; every path that makes a blob live again protects
// it first: a manifest PUT holds each digest it references (and its own) from before it checks that they exist
// until its record is written, a blob HEAD/GET protects what the client is about to reference (a client that
// finds a blob skips uploading it), a mount protects its source, and an upload commit protects its digest before
// it links it. The check-and-delete in the sweeper is synchronous up to the point where the deletion starts, and
// protect()/hold() wait for every deletion of that digest already under way (the blob, its links), so the
// existence check after them sees the truth: either the blob survives, or it is gone and the client gets
// BLOB_UNKNOWN / MANIFEST_BLOB_UNKNOWN and uploads it again (as Harbor does).
//
// A hold spans collections: a run that starts while a manifest PUT has checked its references but not yet
// written its record may mark that repository before the record exists, so the held digests count as protected
// by every run that overlaps the hold, to that run's end. Plain protection lasts for one run; a client that
// checked a blob just *before* a run starts relies on the grace period and on its manifest PUT's own check:
// blobs modified, or touched through this process (an existing blob uploaded again, HEAD, mount), within the
// grace period are never swept. Touches are kept in memory, so they cost no disk write; the file's mtime covers
// writers in other processes.
const MAX_TOUCHES = 200_000;

export class GcAlreadyRunningError extends Error {
  constructor() {
    super('a garbage collection is already running');
    this.name = 'GcAlreadyRunningError';
  }
}

export class GcGuard {
  private running = false;
  /** protected since the current run began */
  private readonly protectedDigests = new Set<string>();
  /** digest → how many requests hold it (see hold) */
  private readonly held = new Map<string, number>();
  /** digest → settles when every deletion of it under way (blob, links) has finished */
  private readonly deleting = new Map<string, Promise<void>>();
  /** digest → last touch (ms), oldest first */
  private readonly touches = new Map<string, number>();

  get active(): boolean {
    return this.running;
  }

  begin(): void {
    if (this.running) throw new GcAlreadyRunningError();
    this.running = true;
    this.protectedDigests.clear();
  }

  end(): void {
    this.running = false;
    this.protectedDigests.clear();
  }

  /** Marks a digest as about to be referenced; resolves once no deletion of it is in flight. */
  async protect(digest: string, now = Date.now()): Promise<void> {
    this.touch(digest, now);
    if (this.running) this.protectedDigests.add(digest);
    await this.deleting.get(digest);
  }

  /**
   * Protects digests from every collection until the returned release is called, and, for a collection running
   * at release time, until that collection ends. Call before checking that they exist; release once the record
   * referencing them is written (or the request failed). Resolves once no deletion of them is in flight.
   */
  async hold(digests: Iterable<string>, now = Date.now()): Promise<() => void> {
    const unique = [...new Set(digests)];
    for (const digest of unique) {
      this.touch(digest, now);
      this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const digest of unique) {
        const count = this.held.get(digest)! - 1;
        if (count === 0) this.held.delete(digest);
        else this.held.set(digest, count);
        if (this.running) this.protectedDigests.add(digest);
      }
    };
    // deletions in flight settle without rejecting (see trackDeletion)
    await Promise.all(unique.map((digest) => this.deleting.get(digest)));
    return release;
  }

  /** when the digest was last protected (touched) through this process, if it still remembers */
  lastTouched(digest: string): number | undefined {
    return this.touches.get(digest);
  }

  isProtected(digest: string): boolean {
    return this.protectedDigests.has(digest) || this.held.has(digest);
  }

  /**
   * Runs `remove` (deleting the blob, or a link to it) unless the digest is protected or held; the decision and
   * the start of the removal are not interleaved with other requests. Several removals of one digest may run.
   */
  async deleteUnlessProtected(digest: string, remove: () => Promise<void>): Promise<boolean> {
    if (this.isProtected(digest)) return false;
    const removal = remove();
    this.trackDeletion(digest, removal.catch(() => undefined));
    await removal;
    return true;
  }

  /**
   * deleteUnlessProtected for a batch removed at once (one bulk request): removes the digests neither protected nor
   * held, decided without interleaving, and returns them.
   */
  async deleteManyUnlessProtected(digests: string[], remove: (unprotected: string[]) => Promise<void>): Promise<string[]> {
    const unprotected = digests.filter((digest) => !this.isProtected(digest));
    if (unprotected.length === 0) return [];
    const removal = remove(unprotected);
    const settled = removal.catch(() => undefined);
    for (const digest of unprotected) this.trackDeletion(digest, settled);
    await removal;
    return unprotected;
  }

  private trackDeletion(digest: string, settled: Promise<void>): void {
    const earlier = this.deleting.get(digest);
    const all = earlier ? Promise.all([earlier, settled]).then(() => undefined) : settled;
    this.deleting.set(digest, all);
    void all.then(() => {
      if (this.deleting.get(digest) === all) this.deleting.delete(digest);
    });
  }

  private touch(digest: string, now: number): void {
    this.touches.delete(digest);
    this.touches.set(digest, now);
    if (this.touches.size > MAX_TOUCHES) this.touches.delete(this.touches.keys().next().value!);
  }
}
