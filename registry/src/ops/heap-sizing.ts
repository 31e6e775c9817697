// V8 sizes its heap for the machine, not for the pod: on a node with 24 GiB it lets the heap grow to several
// times what is live before it collects. An online garbage collection makes short-lived garbage for every blob
// it walks, so on 100,000 blobs the process grew from 82 to 271 MiB while 15-45 MiB were live. Optimizing for
// size makes V8 collect sooner and keep its young generation small: the same collection peaks at about 126 MiB.
//
// But the flag costs the requests dearly: with it V8 starts a full mark-compact every few tens of MiB of socket
// buffers, and a 1 GiB blob streamed from S3 went at 173-271 MiB/s instead of 413 (CNCF distribution: 431). So
// the heap is compacted only while a collection runs, and serving runs with V8's defaults.
//
// The flag is set from inside the process (NODE_OPTIONS does not accept it); V8 reads it while it runs, when it
// decides how far to grow the heap, so setting and clearing it at run time takes effect.
import { setFlagsFromString } from 'node:v8';

let compacting = 0;

/** runs `work` with V8 optimizing for size; nested and concurrent runs share one setting */
export async function withCompactHeap<T>(work: () => Promise<T>): Promise<T> {
  if (compacting++ === 0) setFlagsFromString('--optimize-for-size');
  try {
    return await work();
  } finally {
    if (--compacting === 0) setFlagsFromString('--no-optimize-for-size');
  }
}
