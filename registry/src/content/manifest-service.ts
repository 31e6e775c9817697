// Manifest push, fetch and delete: the checks the spec asks for on top of the blob store and the repository
// index. A manifest's bytes live in the global blob store; the repository keeps a record of what it references.
import { ErrorCodes, registryError } from '../errors.ts';
import { digestOf, type ParsedDigest, tryParseDigest } from '../oci/digest.ts';
import { assertTag } from '../oci/names.ts';
import { parseManifest, type Descriptor, type ManifestReferences } from '../oci/manifest.ts';
import type { BlobStore } from './blob-store.ts';
import { ManifestCache } from './manifest-cache.ts';
import type { ManifestRecord, RepositoryStore } from './repository-store.ts';

export interface ManifestReference {
  digest?: ParsedDigest;
  tag?: string;
}

export interface ResolvedManifest {
  digest: ParsedDigest;
  mediaType: string;
  size: number;
}

export interface PushedManifest {
  digest: ParsedDigest;
  subject?: string;
}

/** A reference is a digest when it has the digest form, otherwise it must be a valid tag. */
export function parseReference(reference: string): ManifestReference {
  if (reference.includes(':')) {
    const digest = tryParseDigest(reference);
    if (!digest) throw registryError(ErrorCodes.DIGEST_INVALID, 'invalid digest', { digest: reference });
    return { digest };
  }
  assertTag(reference);
  return { tag: reference };
}

export class ManifestService {
  private readonly blobs: BlobStore;
  private readonly repositories: RepositoryStore;
  private readonly cache: ManifestCache;
  private readonly maxBytes: number;

  constructor(blobs: BlobStore, repositories: RepositoryStore, options: { cacheBytes: number; maxBytes: number }) {
    this.blobs = blobs;
    this.repositories = repositories;
    this.cache = new ManifestCache(options.cacheBytes);
    this.maxBytes = options.maxBytes;
  }

  get maxManifestBytes(): number {
    return this.maxBytes;
  }

  async resolve(repository: string, reference: string): Promise<ResolvedManifest & { record: ManifestRecord; tag?: string }> {
    const parsed = parseReference(reference);
    let digest = parsed.digest;
    if (parsed.tag) {
      const tag = await this.repositories.getTag(repository, parsed.tag);
      digest = tag ? tryParseDigest(tag.digest) ?? undefined : undefined;
    }
    const record = digest ? await this.repositories.getManifest(repository, digest, { namedByTag: parsed.tag !== undefined }) : null;
    if (!digest || !record) {
      throw registryError(ErrorCodes.MANIFEST_UNKNOWN, 'manifest unknown', { name: repository, reference });
    }
    return { digest, mediaType: record.mediaType, size: record.size, record, ...(parsed.tag ? { tag: parsed.tag } : {}) };
  }

  async get(repository: string, reference: string): Promise<ResolvedManifest & { content: Buffer }> {
    const resolved = await this.resolve(repository, reference);
    let content = this.cache.get(resolved.digest.value);
    if (!content) {
      content = await this.blobs.getContent(resolved.digest);
      this.cache.set(resolved.digest.value, content);
    }
    this.repositories.recordPull(repository, resolved.digest.value, resolved.tag);
    return { digest: resolved.digest, mediaType: resolved.mediaType, size: resolved.size, content };
  }

  async put(repository: string, reference: string, body: Buffer, contentType: string | undefined): Promise<PushedManifest> {
    const target = parseReference(reference);
    if (body.length > this.maxBytes) {
      throw registryError(ErrorCodes.PAYLOAD_TOO_LARGE, `manifest exceeds ${this.maxBytes} bytes`, { size: body.length });
    }
    const references = parseManifest(body, contentType);
    const digest = tryParseDigest(digestOf(body, target.digest?.algorithm ?? 'sha256'))!;
    if (target.digest && target.digest.value !== digest.value) {
      throw registryError(ErrorCodes.DIGEST_INVALID, 'manifest digest does not match its content', {
        digest: target.digest.value,
      });
    }
    await this.write(repository, digest, body, references, target.tag, () => this.assertReferencesExist(repository, references));
    return { digest, ...(references.subject ? { subject: references.subject.digest } : {}) };
  }

  /**
   * Records a manifest fetched from a mirror's upstream, verified against its digest by the caller. Unlike a
   * push, the blobs and child manifests it references need not be here yet: they are fetched when asked for.
   */
  async putMirrored(repository: string, digest: ParsedDigest, content: Buffer, mediaType: string, tag?: string): Promise<void> {
    await this.write(repository, digest, content, parseManifest(content, mediaType), tag);
  }

  /**
   * Stores a manifest, its record, its referrer entry and its tag. What it references is held, in every process
   * sharing the storage, from before `check` until the record is written: a collection starting in between may
   * already have marked this repository without the record, and must still not sweep what it references.
   */
  private async write(
    repository: string, digest: ParsedDigest, content: Buffer, references: ManifestReferences, tag: string | undefined,
    check?: () => Promise<void>,
  ): Promise<void> {
    const held = await this.blobs.holdReferences([digest.value, ...references.blobs, ...references.manifests]);
    try {
      await check?.();
      await this.blobs.putContent(content, digest);
      held.assertFresh();
      await this.repositories.putManifest(repository, digest, this.recordOf(digest, content, references));
      if (references.subject) {
        await this.repositories.addReferrer(repository, tryParseDigest(references.subject.digest)!, digest, this.descriptorOf(digest, content, references));
      }
      if (tag) await this.repositories.putTag(repository, tag, digest.value);
    } finally {
      // the response need not wait for the hold's removal from storage: the record is written
      void held.release();
    }
    this.cache.set(digest.value, content);
  }

  /** By tag: removes the tag only. By digest: removes the manifest and every tag pointing at it. */
  async delete(repository: string, reference: string): Promise<void> {
    const target = parseReference(reference);
    if (target.tag) {
      if (!(await this.repositories.deleteTag(repository, target.tag))) {
        throw registryError(ErrorCodes.MANIFEST_UNKNOWN, 'tag unknown', { name: repository, reference });
      }
      return;
    }
    const digest = target.digest!;
    const record = await this.repositories.getManifest(repository, digest);
    if (!record) throw registryError(ErrorCodes.MANIFEST_UNKNOWN, 'manifest unknown', { name: repository, reference });
    for (const [tag, tagRecord] of await this.repositories.tagRecords(repository)) {
      if (tagRecord.digest === digest.value) await this.repositories.deleteTag(repository, tag);
    }
    if (record.subject) {
      const subject = tryParseDigest(record.subject);
      if (subject) await this.repositories.removeReferrer(repository, subject, digest);
    }
    await this.repositories.deleteManifest(repository, digest);
  }

  private recordOf(digest: ParsedDigest, content: Buffer, references: ManifestReferences): ManifestRecord {
    return {
      digest: digest.value,
      mediaType: references.mediaType,
      size: content.length,
      blobs: references.blobs,
      manifests: references.manifests,
      pushedAt: new Date().toISOString(),
      ...(references.subject ? { subject: references.subject.digest } : {}),
      ...(references.artifactType ? { artifactType: references.artifactType } : {}),
      ...(references.annotations ? { annotations: references.annotations } : {}),
    };
  }

  /** what the referrers listing of the manifest's subject shows for it */
  private descriptorOf(digest: ParsedDigest, content: Buffer, references: ManifestReferences): Descriptor {
    return {
      mediaType: references.mediaType,
      digest: digest.value,
      size: content.length,
      ...(references.artifactType ? { artifactType: references.artifactType } : {}),
      ...(references.annotations ? { annotations: references.annotations } : {}),
    };
  }

  /** Every referenced blob is linked here and stored, every child manifest is recorded here, each of the size
   * its descriptor declares (a descriptor whose size differs from the content is invalid: OCI image spec). */
  private async assertReferencesExist(repository: string, references: ManifestReferences): Promise<void> {
    const storedSize = async (value: string, isManifest: boolean): Promise<number | null> => {
      const digest = tryParseDigest(value)!;
      if (isManifest) return (await this.repositories.getManifest(repository, digest))?.size ?? null;
      const [linked, size] = await Promise.all([this.repositories.isBlobLinked(repository, digest), this.blobs.size(digest)]);
      return linked ? size : null;
    };
    const referenced = [
      ...[...new Set(references.blobs)].map((digest) => ({ digest, isManifest: false })),
      ...[...new Set(references.manifests)].map((digest) => ({ digest, isManifest: true })),
    ];
    const sizes = await Promise.all(referenced.map(({ digest, isManifest }) => storedSize(digest, isManifest)));
    const unknown = referenced.filter((_, i) => sizes[i] === null).map(({ digest }) => digest);
    if (unknown.length > 0) {
      throw registryError(ErrorCodes.MANIFEST_BLOB_UNKNOWN, 'manifest references unknown blobs or manifests', {
        digests: unknown,
      });
    }
    const mismatched = referenced
      .map(({ digest }, i) => ({ digest, declared: references.declaredSizes.get(digest), stored: sizes[i] }))
      .filter(({ declared, stored }) => declared !== undefined && declared !== stored);
    if (mismatched.length > 0) {
      throw registryError(ErrorCodes.MANIFEST_INVALID, 'descriptor size does not match the stored content', {
        descriptors: mismatched.map(({ digest, declared, stored }) => ({ digest, size: declared, storedSize: stored })),
      });
    }
  }
}
