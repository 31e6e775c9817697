// V8 sizes its heap for the machine, not for the pod: on a node with 24 GiB it lets the heap grow to several
// times what is live before it collects. An online garbage collection makes short-lived garbage for every blob
// it walks, so on 100,000 blobs the process grew from 82 to 271 MiB while 15-45 MiB were live. Optimizing for
// size makes V8 collect sooner and keep its young generation small: the same collection peaks at about 126 MiB,
// and the request benchmarks did not measurably change (see the README's benchmark notes).
//
// The flag is set from inside the process because it is the one entry point every way of running the registry
// shares (the image, the operator's Deployment, the benchmarks); NODE_OPTIONS does not accept it. V8 reads this
// flag while it runs (when it decides how far to grow the heap), so setting it after start takes effect.
import { setFlagsFromString } from 'node:v8';

export function optimizeHeapForSize(): void {
  setFlagsFromString('--optimize-for-size');
}
