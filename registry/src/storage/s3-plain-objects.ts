// What this process knows without asking S3: the plain objects it wrote itself (putContent, an append that stayed
// one object, a move's target), by key, with ETag and size. Another replica may have changed such a key since, so
// the knowledge is used only where that is safe: a move copies the object on the condition that it is still that
// ETag (S3 refuses the copy otherwise, and the move then looks), and a delete removes it without a HEAD first
// (were it turned into an appended file elsewhere meanwhile, that file's work objects would wait for the purge,
// abortOrphanedUploads). A small upload thus commits with a copy and two deletes, none preceded by a read.

export interface PlainObject {
  etag: string;
  size: number;
}

/** keys remembered at most; the oldest goes first (an upload is moved within seconds of its last append) */
const MAX_KEYS = 10_000;

export class PlainObjects {
  private readonly objects = new Map<string, PlainObject>();

  get(key: string): PlainObject | undefined {
    return this.objects.get(key);
  }

  /** `etag` empty: S3 did not tell it, and nothing is remembered */
  remember(key: string, object: PlainObject): void {
    this.objects.delete(key);
    if (object.etag === '') return;
    this.objects.set(key, object);
    if (this.objects.size > MAX_KEYS) this.objects.delete(this.objects.keys().next().value!);
  }

  forget(key: string): void {
    this.objects.delete(key);
  }
}
