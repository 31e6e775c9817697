// A backup holds garbage collection off for its whole run, the way a collection excludes another: it takes the
// collection's own slot in this process (content/gc-guard.ts) and, on shared storage, a run in the fence (content/gc-fence.ts),
// which other replicas' collections find and wait for (409 GC_IN_PROGRESS). Without it a collection could sweep
// a blob between the backup's read of a manifest record and its copy of the blobs the record names (an image
// deleted meanwhile). Requests meanwhile protect and hold digests as during a collection; nothing is deleted.
import type { BlobStore } from '../content/blob-store.ts';
import type { FenceRun } from '../content/gc-fence.ts';

/** Runs `work` with no garbage collection of this storage running; throws GcAlreadyRunningError when one is. */
export async function withGcHeldOff<T>(blobs: BlobStore, work: () => Promise<T>): Promise<T> {
  blobs.guard.begin();
  let run: FenceRun | null = null;
  try {
    if (blobs.fence) run = await blobs.fence.beginRun();
    return await work();
  } finally {
    await run?.end();
    blobs.guard.end();
  }
}
