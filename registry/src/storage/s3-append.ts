// Appending to an object on S3, which has no append. A file being appended is a small state object at the file's
// key (marked by a metadata header that also carries its size, so one HEAD stats it) recording a multipart upload
// kept open across appends (its parts hold the first bytes) and the readable objects ("segments") that follow
// them: the tail of bytes not yet making up a whole part, or, once a reader needed the bytes, the completed
// upload. Each append uploads whole parts as the bytes arrive (one part buffered: memory never holds a layer),
// writes what is left as a new segment, then rewrites the state object: that write is the commit point, so a
// failed append leaves the previous state (parts it uploaded past the recorded ones are overwritten by the next
// append's parts of the same numbers; other leftovers lie under the file's work prefix, removed with the file).
// Nothing is kept in memory between appends, so another driver instance (another replica) continues where this one
// stopped. The multipart upload, the segments and leftovers live under a work prefix of the file's own, apart from
// the file's directory, so listings never show them. A file whose first append stays below a part (most uploads
// of small blobs) is only a plain object at its key, written by one PUT; an append to it carries its bytes over.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { SizeMismatchError } from './driver.ts';
import {
  MAX_PARTS, MIN_PART_BYTES, MAX_PART_BYTES, readAll, splitRange, type Bucket, type CompletedPart, type ObjectBody,
  type ObjectHead,
} from './s3-bucket.ts';

/** user metadata naming a state object, with the appended size as its value */
export const APPENDED_SIZE_METADATA = 'regop-appended-size';

export interface Segment {
  key: string;
  size: number;
}

export interface OpenUpload {
  key: string;
  uploadId: string;
  parts: CompletedPart[];
}

/** the content is the upload's parts, then the segments in order; `size` is their sum */
export interface AppendState {
  size: number;
  upload: OpenUpload | null;
  segments: Segment[];
}

const EMPTY_STATE: AppendState = { size: 0, upload: null, segments: [] };

export function isAppendState(head: ObjectHead): boolean {
  return head.metadata[APPENDED_SIZE_METADATA] !== undefined;
}

export function appendedSize(head: ObjectHead): number {
  return Number(head.metadata[APPENDED_SIZE_METADATA]);
}

export function parseState(content: Buffer): AppendState {
  const state = JSON.parse(content.toString('utf8')) as AppendState;
  if (typeof state.size !== 'number' || !Array.isArray(state.segments)) throw new Error('not an append state object');
  return state;
}

/** a fresh name under a file's work prefix */
function workKey(workPrefix: string, kind: 'upload' | 'tail' | 'copy'): string {
  return `${workPrefix}${kind}-${randomBytes(8).toString('hex')}`;
}

/**
 * Turns bytes and existing objects into the parts of one multipart upload, in order: whole parts of `partBytes`
 * from buffered bytes, or parts copied on the server from an object when nothing is buffered before it.
 */
class PartWriter {
  readonly upload: OpenUpload;
  private readonly bucket: Bucket;
  private readonly partBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(bucket: Bucket, upload: OpenUpload, partBytes: number) {
    this.bucket = bucket;
    this.upload = { ...upload, parts: [...upload.parts] };
    this.partBytes = partBytes;
  }

  async addBytes(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.partBytes) await this.uploadBuffered(this.partBytes);
  }

  async addObject(segment: Segment): Promise<void> {
    if (this.pendingBytes === 0 && segment.size >= MIN_PART_BYTES) {
      for (const range of splitRange(0, segment.size, MAX_PART_BYTES)) {
        const number = this.nextPartNumber();
        const etag = await this.bucket.uploadPartCopy(this.upload.key, this.upload.uploadId, number, segment.key, range);
        this.upload.parts.push({ number, etag, size: range.end - range.start + 1 });
      }
      return;
    }
    const object = await this.bucket.get(segment.key);
    if (!object) throw new Error(`S3 object ${segment.key} of an appended file is missing`);
    for await (const chunk of object.body) await this.addBytes(chunk as Buffer);
  }

  /** the buffered bytes (less than a part), taken out of the writer */
  takeBuffered(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  /** uploads the buffered bytes as the last part, whatever their size */
  async finish(): Promise<void> {
    if (this.pendingBytes > 0) await this.uploadBuffered(this.pendingBytes);
  }

  private nextPartNumber(): number {
    const number = (this.upload.parts.at(-1)?.number ?? 0) + 1;
    if (number > MAX_PARTS) {
      throw new Error(`file too large for one S3 multipart upload (${MAX_PARTS} parts of ${this.partBytes} bytes)`);
    }
    return number;
  }

  private async uploadBuffered(bytes: number): Promise<void> {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const part = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    const number = this.nextPartNumber();
    const etag = await this.bucket.uploadPart(this.upload.key, this.upload.uploadId, number, part);
    this.upload.parts.push({ number, etag, size: bytes });
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }
}

export class Appender {
  private readonly bucket: Bucket;
  private readonly partBytes: number;

  constructor(bucket: Bucket, partBytes: number) {
    if (partBytes < MIN_PART_BYTES) throw new Error(`S3 parts are at least ${MIN_PART_BYTES} bytes`);
    this.bucket = bucket;
    this.partBytes = partBytes;
  }

  /** the state object of a file: null when the file is absent or holds no append state */
  async readState(fileKey: string): Promise<AppendState | null> {
    const object = await this.bucket.get(fileKey);
    if (!object) return null;
    if (isAppendState(object)) return parseState(await readAll(object.body));
    object.body.destroy();
    return null;
  }

  async writeState(fileKey: string, state: AppendState): Promise<void> {
    await this.bucket.put(fileKey, JSON.stringify(state), { [APPENDED_SIZE_METADATA]: String(state.size) });
  }

  /**
   * Appends the source's bytes after `previous` and commits; returns the new size, and the ETag of the plain
   * object the file is when it is one. `plain`: the file is a plain object (opened by a GET), whose bytes then come
   * first: below a part they are read and carried into the append's own writes, a larger one (putContent's) is
   * copied aside on the server. A file that was absent and stays below a part is written as one plain object,
   * which its one PUT commits (no state, no tail): a small upload costs a single write, and it is read, stated
   * and moved as any object.
   */
  async append(
    fileKey: string, workPrefix: string, previous: AppendState | null, source: Readable, expectedLength?: number,
    plain?: ObjectBody,
  ): Promise<{ size: number; plainEtag?: string }> {
    let state = previous ?? EMPTY_STATE;
    const waiting: Buffer[] = [];
    let waitingBytes = 0;
    // removed again unless the new state names it
    let copied: string | null = null;
    if (plain && plain.size < this.partBytes) {
      const carried = await readAll(plain.body);
      waiting.push(carried);
      waitingBytes = carried.length;
    } else if (plain) {
      plain.body.destroy();
      copied = workKey(workPrefix, 'copy');
      await this.bucket.copy(fileKey, copied, plain.size);
      state = { size: plain.size, upload: null, segments: [{ key: copied, size: plain.size }] };
    }
    const carriedBytes = waitingBytes;
    const unfolded = state.segments.reduce((sum, segment) => sum + segment.size, 0);
    // Once the segments and the new bytes make a whole part, the segments are folded into the upload; until then
    // the new bytes wait in memory, so that a small append only adds a segment.
    const foldAt = Math.max(1, this.partBytes - unfolded);
    let writer: PartWriter | null = null;
    let createdUpload: OpenUpload | null = null;
    let tail: string | null = null;
    let received = 0;
    try {
      for await (const data of source) {
        const chunk = typeof data === 'string' ? Buffer.from(data) : data as Buffer;
        received += chunk.length;
        if (expectedLength !== undefined && received > expectedLength) throw new SizeMismatchError(expectedLength, received);
        if (writer) {
          await writer.addBytes(chunk);
          continue;
        }
        waiting.push(chunk);
        waitingBytes += chunk.length;
        if (waitingBytes >= foldAt) {
          if (!state.upload) {
            const key = workKey(workPrefix, 'upload');
            createdUpload = { key, uploadId: await this.bucket.createUpload(key), parts: [] };
          }
          writer = new PartWriter(this.bucket, state.upload ?? createdUpload!, this.partBytes);
          for (const segment of state.segments) await writer.addObject(segment);
          for (const bytes of waiting.splice(0)) await writer.addBytes(bytes);
        }
      }
      if (expectedLength !== undefined && received !== expectedLength) throw new SizeMismatchError(expectedLength, received);
      const size = state.size + carriedBytes + received;
      if (received === 0 && (previous || plain)) {
        if (copied) await this.removeQuietly([copied]);
        return { size, ...(plain ? { plainEtag: plain.etag } : {}) };
      }
      const rest = writer ? writer.takeBuffered() : Buffer.concat(waiting, waitingBytes);
      if (!writer && !previous && !plain) return { size, plainEtag: await this.bucket.put(fileKey, rest) };
      const newSegments: Segment[] = [];
      if (rest.length > 0) {
        tail = workKey(workPrefix, 'tail');
        await this.bucket.put(tail, rest);
        newSegments.push({ key: tail, size: rest.length });
      }
      const next: AppendState = writer
        ? { size, upload: writer.upload, segments: newSegments }
        : { size, upload: state.upload, segments: [...state.segments, ...newSegments] };
      // Past this call the outcome may be unknown (a lost response), so nothing it refers to may be removed
      // when it fails: the leftovers go with the file.
      const committing = this.writeState(fileKey, next);
      tail = null;
      createdUpload = null;
      copied = null;
      await committing;
      if (writer) await this.removeQuietly(state.segments.map((segment) => segment.key));
      return { size };
    } catch (error) {
      if (tail) await this.removeQuietly([tail]);
      if (copied) await this.removeQuietly([copied]);
      if (createdUpload) await this.bucket.abortUpload(createdUpload.key, createdUpload.uploadId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Completes the file's multipart upload, the segments after it making its last parts, so that all its bytes
   * are readable; commits and returns the state with that one object as its only segment.
   */
  async seal(fileKey: string, state: AppendState): Promise<AppendState> {
    if (!state.upload) return state;
    const writer = new PartWriter(this.bucket, state.upload, this.partBytes);
    for (const segment of state.segments) await writer.addObject(segment);
    await writer.finish();
    await this.bucket.completeUpload(state.upload.key, state.upload.uploadId, writer.upload.parts);
    const sealed: AppendState = { size: state.size, upload: null, segments: [{ key: state.upload.key, size: state.size }] };
    await this.writeState(fileKey, sealed);
    await this.removeQuietly(state.segments.map((segment) => segment.key));
    return sealed;
  }

  /**
   * Writes the concatenation of sealed segments as one plain object: copied on the server when it is one,
   * buffered when small, part by part otherwise.
   */
  async writeConcatenation(segments: Segment[], targetKey: string, workPrefix: string): Promise<void> {
    const size = segments.reduce((sum, segment) => sum + segment.size, 0);
    if (segments.length === 1) {
      await this.bucket.copy(segments[0]!.key, targetKey, size);
      return;
    }
    if (size < this.partBytes) {
      const buffers: Buffer[] = [];
      for (const segment of segments) {
        const content = await this.bucket.getBuffer(segment.key);
        if (!content) throw new Error(`S3 object ${segment.key} of an appended file is missing`);
        buffers.push(content);
      }
      await this.bucket.put(targetKey, Buffer.concat(buffers));
      return;
    }
    // not a state this driver leaves (segments after a sealed one stay below a part), but any list is handled
    const key = workKey(workPrefix, 'upload');
    const writer = new PartWriter(this.bucket, { key, uploadId: await this.bucket.createUpload(key), parts: [] }, this.partBytes);
    try {
      for (const segment of segments) await writer.addObject(segment);
      await writer.finish();
      await this.bucket.completeUpload(key, writer.upload.uploadId, writer.upload.parts);
    } catch (error) {
      await this.bucket.abortUpload(key, writer.upload.uploadId).catch(() => undefined);
      throw error;
    }
    await this.bucket.copy(key, targetKey, size);
  }

  /** Aborts the file's upload and deletes its segments (once its state object is gone). */
  async remove(state: AppendState): Promise<void> {
    if (state.upload) await this.bucket.abortUpload(state.upload.key, state.upload.uploadId);
    await this.bucket.deleteMany(state.segments.map((segment) => segment.key));
  }

  /**
   * Aborts the multipart uploads and deletes the objects under a work prefix (one file's, or a directory's);
   * `olderThan`: only those begun or written before then (a purge's view: younger ones may be in use).
   */
  async discard(
    workPrefix: string, olderThan?: Date, keep: (key: string, uploadId?: string) => Promise<boolean> = async () => false,
  ): Promise<number> {
    let removed = 0;
    for await (const uploads of this.bucket.listUploads(workPrefix)) {
      for (const upload of uploads) {
        if (olderThan && upload.initiated >= olderThan) continue;
        if (await keep(upload.key, upload.uploadId)) continue;
        await this.bucket.abortUpload(upload.key, upload.uploadId);
        removed++;
      }
    }
    for await (const objects of this.bucket.listAll(workPrefix)) {
      const doomed: Array<{ key: string }> = [];
      for (const object of objects) {
        if (olderThan && object.modifiedAt >= olderThan) continue;
        if (!(await keep(object.key))) doomed.push(object);
      }
      await this.bucket.deleteMany(doomed.map((object) => object.key));
      removed += doomed.length;
    }
    return removed;
  }

  private async removeQuietly(keys: string[]): Promise<void> {
    // a leftover costs only space until the file is moved or deleted
    await this.bucket.deleteMany(keys).catch(() => undefined);
  }
}
