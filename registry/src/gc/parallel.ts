// Runs async work over many items with a bounded number in flight: filesystem calls go through libuv's thread
// pool, so a collection that awaits them one at a time leaves it idle and takes several times longer.
export async function forEachConcurrently<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
