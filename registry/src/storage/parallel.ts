// Runs async work over many items with a bounded number in flight: filesystem calls go through libuv's thread
// pool, and object-store requests wait on the network, so a collection that awaits them one at a time leaves
// both idle and takes several times longer. Items may come from an async generator (a walk of the store), which
// is then consumed as the work goes, never held whole.
export async function forEachConcurrently<T>(items: Iterable<T> | AsyncIterable<T>, limit: number,
  work: (item: T) => Promise<void>): Promise<void> {
  const iterator: Iterator<T> | AsyncIterator<T> = Symbol.asyncIterator in items
    ? items[Symbol.asyncIterator]()
    : items[Symbol.iterator]();
  const worker = async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/**
 * Gathers items into batches of `size` and hands each to `work`, at most `inFlight` batches at once: add() waits
 * while that many run, so a walk feeding it never gets far ahead of the removals. flush() hands over the last,
 * partial batch and waits for all; the first failure of any batch is thrown by the next add() or by flush().
 */
export class Batcher<T> {
  private readonly size: number;
  private readonly inFlight: number;
  private readonly work: (batch: T[]) => Promise<void>;
  private batch: T[] = [];
  private readonly running = new Set<Promise<void>>();
  private failed: { error: unknown } | null = null;

  constructor(size: number, inFlight: number, work: (batch: T[]) => Promise<void>) {
    this.size = size;
    this.inFlight = inFlight;
    this.work = work;
  }

  async add(item: T): Promise<void> {
    this.throwIfFailed();
    this.batch.push(item);
    if (this.batch.length >= this.size) await this.dispatch();
  }

  async flush(): Promise<void> {
    if (this.batch.length > 0) await this.dispatch();
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private async dispatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    while (this.running.size >= this.inFlight) await Promise.race(this.running);
    this.throwIfFailed();
    // a failure is kept for add()/flush(), never left as an unhandled rejection while the walk goes on
    const running: Promise<void> = this.work(batch)
      .catch((error: unknown) => { this.failed ??= { error }; })
      .finally(() => this.running.delete(running));
    this.running.add(running);
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failed.error;
  }
}
