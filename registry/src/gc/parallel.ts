// Runs async work over many items with a bounded number in flight: filesystem calls go through libuv's thread
// pool, so a collection that awaits them one at a time leaves it idle and takes several times longer. Items may
// come from an async generator (a walk of the store), which is then consumed as the work goes, never held whole.
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
