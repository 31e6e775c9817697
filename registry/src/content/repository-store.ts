// Per-repository metadata: which blobs and manifests belong to a repository, its tags, the referrers of its
// manifests and when things were last pulled. Kept as small files beside the global blob store so that tag
// listing, referrers and GC read references here instead of re-parsing manifests.
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import type { StorageDriver } from '../storage/driver.ts';
import { readJsonFile } from '../storage/json-file.ts';
import { type ParsedDigest, tryParseDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import { paths, REPOSITORIES_ROOT } from './paths.ts';
import { MetadataCache } from './metadata-cache.ts';
import { pageOf, type ListingPage, type PageRequest } from './listing-page.ts';

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** config and layers */
  blobs: string[];
  /** children of an index */
  manifests: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  pushedAt: string;
}

export interface TagRecord {
  digest: string;
  pushedAt: string;
}

export interface PullTimes {
  tags: Record<string, string>;
  manifests: Record<string, string>;
}

/** Tags and manifest records kept parsed in memory, of each kind (a few hundred bytes to a few KiB apiece). */
const METADATA_CACHE_ENTRIES = 20_000;

/**
 * Pull-time files of other processes (on shared storage) beyond which a flush folds them into its own: each
 * process start adds one per repository it serves pulls of.
 */
const PULL_FILES_BEFORE_FOLDING = 8;
/** a file not flushed for this long belongs to a process that has gone or has nothing new: safe to fold */
const PULL_FILE_FOLD_AGE_MS = 10 * 60_000;

/** directory listings in flight during a catalog walk */
const CATALOG_WALK_CONCURRENCY = 16;
/** tag records read at once when all of a repository's are wanted */
const TAG_READ_CONCURRENCY = 16;

/** How long a catalog walk is trusted before writes by another replica are looked for again. */
const CATALOG_TTL_MS = 10_000;

function mergePullTimes(older: PullTimes, newer: PullTimes): PullTimes {
  return { tags: { ...older.tags, ...newer.tags }, manifests: { ...older.manifests, ...newer.manifests } };
}

/** for files of different processes, where neither is newer as a whole: the later time of each entry */
function mergeLatestPullTimes(a: PullTimes, b: PullTimes): PullTimes {
  const latest = (x: Record<string, string>, y: Record<string, string>) => {
    const out = { ...x };
    for (const [key, time] of Object.entries(y)) if (!out[key] || out[key] < time) out[key] = time;
    return out;
  };
  return { tags: latest(a.tags, b.tags), manifests: latest(a.manifests, b.manifests) };
}


export class RepositoryStore {
  private readonly driver: StorageDriver;
  private readonly tagListCache = new Map<string, { modifiedAt: number; tags: string[] }>();
  private catalog: { names: Set<string>; sorted: string[] | null; loadedAt: number } | null = null;
  private readonly pendingPulls = new Map<string, PullTimes>();
  private readonly tagFiles: MetadataCache<TagRecord>;
  private readonly manifestRecords: MetadataCache<ManifestRecord>;
  private readonly shared: boolean;
  /** this process's name for its pull-time files on shared storage */
  private readonly writer = randomBytes(8).toString('hex');

  /** `shared`: replicas write the same storage (see MetadataCache) */
  constructor(driver: StorageDriver, options: { shared?: boolean } = {}) {
    this.driver = driver;
    this.shared = options.shared ?? false;
    const cacheOptions = { maxEntries: METADATA_CACHE_ENTRIES, shared: this.shared };
    this.tagFiles = new MetadataCache(driver, cacheOptions);
    this.manifestRecords = new MetadataCache(driver, cacheOptions);
  }

  // ---- blob links: a blob is readable in a repository only once pushed or mounted there

  async linkBlob(repository: string, digest: ParsedDigest): Promise<void> {
    await this.driver.putContent(paths.layerLink(repository, digest), digest.value);
    this.noteRepository(repository);
  }

  async isBlobLinked(repository: string, digest: ParsedDigest): Promise<boolean> {
    return (await this.driver.statFile(paths.layerLink(repository, digest))) !== null;
  }

  async unlinkBlob(repository: string, digest: ParsedDigest): Promise<void> {
    await this.driver.delete(paths.layerLink(repository, digest));
  }

  /** unlinkBlob for many: in bulk requests where the storage has them (an object store: a thousand a request) */
  async unlinkBlobs(repository: string, digests: ParsedDigest[], concurrency: number): Promise<void> {
    const links = digests.map((digest) => paths.layerLink(repository, digest));
    if (this.driver.deleteFiles) return this.driver.deleteFiles(links);
    const limit = pLimit(concurrency);
    await Promise.all(links.map((link) => limit(() => this.driver.delete(link))));
  }

  /** the repository's links, one directory listing at a time (a repository may link most of the store) */
  linkedBlobs(repository: string): AsyncGenerator<ParsedDigest> {
    return this.walkDigestsUnder(paths.layerLinks(repository));
  }

  // ---- manifests

  async putManifest(repository: string, digest: ParsedDigest, record: ManifestRecord): Promise<void> {
    const path = paths.manifestRecord(repository, digest);
    await this.manifestRecords.write(path, record, () => this.driver.putContent(path, JSON.stringify(record)));
    this.noteRepository(repository);
  }

  /**
   * `scan`: a pass over every record (GC, retention), read around the cache so it does not flush the hot ones.
   * `namedByTag`: the digest is what a tag read just now names. Deleting a manifest deletes its tags first, so the
   * record exists while the tag does, and a record never changes: on shared storage its cached copy then needs no
   * stat (a pull by tag costs one request to an object store, not two).
   */
  getManifest(repository: string, digest: ParsedDigest, options: { scan?: boolean; namedByTag?: boolean } = {}): Promise<ManifestRecord | null> {
    const path = paths.manifestRecord(repository, digest);
    if (options.scan) return readJsonFile<ManifestRecord>(this.driver, path);
    return this.manifestRecords.read(path, { knownToExist: options.namedByTag ?? false });
  }

  async hasManifest(repository: string, digest: ParsedDigest): Promise<boolean> {
    return (await this.driver.statFile(paths.manifestRecord(repository, digest))) !== null;
  }

  async deleteManifest(repository: string, digest: ParsedDigest): Promise<void> {
    const path = paths.manifestRecord(repository, digest);
    await this.manifestRecords.write(path, null, () => this.driver.delete(path));
  }

  async manifestDigests(repository: string): Promise<ParsedDigest[]> {
    return this.digestsUnder(paths.manifestRecords(repository));
  }

  /** the blobs (configs and layers) the repository's manifests reference, read from their records on disk */
  async referencedBlobs(repository: string): Promise<Set<string>> {
    const referenced = new Set<string>();
    for (const digest of await this.manifestDigests(repository)) {
      for (const blob of (await this.getManifest(repository, digest, { scan: true }))?.blobs ?? []) referenced.add(blob);
    }
    return referenced;
  }

  // ---- tags: a tag's record is `_tags/<tag>/current` (paths.tag). Storage written before tags were directories
  // holds it in the file `_tags/<tag>` (paths.tagDirectory): read while a tag has no `current`, replaced by the tag's
  // next write, deleted with the tag. Nothing is migrated at start: a registry serves its old tags at once.

  /** one read; a second, of the older layout's file, only for a tag without a current record */
  async getTag(repository: string, tag: string): Promise<TagRecord | null> {
    return (await this.tagFiles.read(paths.tag(repository, tag))) ?? this.tagFiles.read(paths.tagDirectory(repository, tag));
  }

  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    const record: TagRecord = { digest, pushedAt: new Date().toISOString() };
    const path = paths.tag(repository, tag);
    await this.tagFiles.write(path, record, () => this.writeTagRecord(repository, tag, JSON.stringify(record)));
    this.tagListCache.delete(repository);
    this.noteRepository(repository);
  }

  /**
   * Writes a tag's record into its directory. Where the older layout's file takes the directory's path, a filesystem
   * refuses the write, as does an object store keeping objects as files (versitygw): the file is removed and the
   * write made again (a reader of the tag between the two finds no tag). An object store of plain keys takes the
   * write, and the old object, which the new record hides from readers, goes when the tag is deleted.
   */
  private async writeTagRecord(repository: string, tag: string, content: string): Promise<void> {
    const path = paths.tag(repository, tag);
    try {
      await this.driver.putContent(path, content);
    } catch (error) {
      const legacy = paths.tagDirectory(repository, tag);
      if (!(await this.driver.statFile(legacy))) throw error;
      await this.tagFiles.write(legacy, null, () => this.driver.delete(legacy));
      await this.driver.putContent(path, content);
    }
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const path = paths.tag(repository, tag);
    const directory = paths.tagDirectory(repository, tag);
    let existed = false;
    await this.tagFiles.write(path, null, () => this.tagFiles.write(directory, null, async () => {
      const [current, legacy] = await Promise.all([this.driver.statFile(path), this.driver.statFile(directory)]);
      existed = current !== null || legacy !== null;
      if (!this.driver.implicitDirectories) {
        // the directory with the record, or the older layout's file (and an empty directory a crash left)
        await this.driver.delete(directory);
        return;
      }
      // an object store: the older layout's object first (until the current record goes, readers see that one)
      if (legacy) await this.driver.delete(directory);
      if (current) await this.driver.delete(path);
    }));
    this.tagListCache.delete(repository);
    return existed;
  }

  /**
   * Sorted tag names: the names of the tags' directories (and of the older layout's files), read from the listing
   * alone. Where directories have versions (a filesystem), cached per repository and revalidated by the tag
   * directory's (one stat); an object store has none, so the listing itself is the one request per thousand tags.
   */
  async listTags(repository: string): Promise<string[]> {
    if (this.driver.implicitDirectories) return this.driver.list(paths.tags(repository), {});
    const directory = await this.driver.stat(paths.tags(repository));
    if (!directory) return [];
    const modifiedAt = directory.modifiedAt.getTime();
    const cached = this.tagListCache.get(repository);
    if (cached && cached.modifiedAt === modifiedAt) return cached.tags;
    const tags = (await this.driver.list(paths.tags(repository))).sort();
    this.tagListCache.set(repository, { modifiedAt, tags });
    return tags;
  }

  /**
   * One page of the sorted tag names. An object store lists only about that page (S3: from the last name on, one
   * request per thousand), so walking 10,000 tags 100 at a time does not list all of them a hundred times.
   */
  async tagPage(repository: string, request: PageRequest): Promise<ListingPage> {
    if (!this.driver.implicitDirectories || request.limit === undefined) return pageOf(await this.listTags(repository), request);
    const names = await this.driver.list(paths.tags(repository), { ...request, limit: request.limit + 1 });
    return { items: names.slice(0, request.limit), more: names.length > request.limit };
  }

  /**
   * Every tag's record, in tag order. Read some at once: deleting a manifest reads them all to find its tags, and on
   * an object store each is a request (one after the other, a repository of 600 tags took seconds per delete).
   */
  async tagRecords(repository: string): Promise<Map<string, TagRecord>> {
    const limit = pLimit(TAG_READ_CONCURRENCY);
    const tags = await this.listTags(repository);
    const read = await Promise.all(tags.map((tag) => limit(() => this.getTag(repository, tag))));
    const records = new Map<string, TagRecord>();
    tags.forEach((tag, index) => {
      const record = read[index];
      if (record) records.set(tag, record);
    });
    return records;
  }

  // ---- referrers

  async addReferrer(repository: string, subject: ParsedDigest, referrer: ParsedDigest, descriptor: Descriptor): Promise<void> {
    await this.driver.putContent(paths.referrer(repository, subject, referrer), JSON.stringify(descriptor));
  }

  async removeReferrer(repository: string, subject: ParsedDigest, referrer: ParsedDigest): Promise<void> {
    await this.driver.delete(paths.referrer(repository, subject, referrer));
  }

  async listReferrers(repository: string, subject: ParsedDigest): Promise<Descriptor[]> {
    const directory = paths.referrers(repository, subject);
    const descriptors: Descriptor[] = [];
    for (const name of (await this.driver.list(directory)).sort()) {
      const descriptor = await readJsonFile<Descriptor>(this.driver, `${directory}/${name}`);
      if (descriptor) descriptors.push(descriptor);
    }
    return descriptors;
  }

  // ---- pull times: kept in memory and flushed now and then, since a file write per pull would cost more
  // than the pull itself; retention only needs them to the minute

  recordPull(repository: string, digest: string, tag?: string): void {
    const now = new Date().toISOString();
    let pending = this.pendingPulls.get(repository);
    if (!pending) this.pendingPulls.set(repository, (pending = { tags: {}, manifests: {} }));
    pending.manifests[digest] = now;
    if (tag) pending.tags[tag] = now;
  }

  async pullTimes(repository: string): Promise<PullTimes> {
    const stored = await this.storedPullTimes(repository);
    const pending = this.pendingPulls.get(repository);
    return pending ? mergePullTimes(stored, pending) : stored;
  }

  async flushPulls(): Promise<void> {
    const batch = [...this.pendingPulls];
    this.pendingPulls.clear();
    for (const [repository, pending] of batch) {
      if (this.shared) {
        await this.flushSharedPulls(repository, pending);
        continue;
      }
      const merged = mergePullTimes(await this.storedPullTimes(repository), pending);
      // last-pulled times are approximate anyway: a power cut may lose the latest flush
      await this.driver.putContent(paths.pulls(repository), JSON.stringify(merged), { durable: false });
    }
  }

  /**
   * Replicas flushing one file would each read it, merge and write it back, and lose each other's pulls: on
   * shared storage every process writes its own file, and folds other files it finds stale into it.
   */
  private async flushSharedPulls(repository: string, pending: PullTimes): Promise<void> {
    const own = paths.pullsOfWriter(repository, this.writer);
    let merged = mergePullTimes((await readJsonFile<PullTimes>(this.driver, own)) ?? { tags: {}, manifests: {} }, pending);
    const directory = paths.pullsByWriter(repository);
    const others = (await this.driver.list(directory)).filter((name) => name !== `${this.writer}.json`);
    const folded: string[] = [];
    if (others.length >= PULL_FILES_BEFORE_FOLDING) {
      for (const name of others) {
        const info = await this.driver.stat(`${directory}/${name}`);
        if (!info || Date.now() - info.modifiedAt.getTime() < PULL_FILE_FOLD_AGE_MS) continue;
        const times = await readJsonFile<PullTimes>(this.driver, `${directory}/${name}`);
        if (times) merged = mergeLatestPullTimes(times, merged);
        folded.push(name);
      }
    }
    await this.driver.putContent(own, JSON.stringify(merged), { durable: false });
    for (const name of folded) await this.driver.delete(`${directory}/${name}`);
  }

  private async storedPullTimes(repository: string): Promise<PullTimes> {
    let times = (await readJsonFile<PullTimes>(this.driver, paths.pulls(repository))) ?? { tags: {}, manifests: {} };
    if (!this.shared) return times;
    const directory = paths.pullsByWriter(repository);
    for (const name of await this.driver.list(directory)) {
      const other = await readJsonFile<PullTimes>(this.driver, `${directory}/${name}`);
      if (other) times = mergeLatestPullTimes(times, other);
    }
    return times;
  }

  // ---- catalog

  /** Sorted repository names; `fresh` walks storage now instead of trusting the cached walk (for GC). */
  async listRepositories(options: { fresh?: boolean } = {}): Promise<string[]> {
    if (options.fresh || !this.catalog || Date.now() - this.catalog.loadedAt > CATALOG_TTL_MS) {
      const names = new Set<string>();
      await this.walkRepositories('', names);
      this.catalog = { names, sorted: null, loadedAt: Date.now() };
    }
    this.catalog.sorted ??= [...this.catalog.names].sort();
    return this.catalog.sorted;
  }

  async repositoryExists(repository: string): Promise<boolean> {
    if (this.catalog?.names.has(repository)) return true;
    const entries = await this.driver.list(paths.repository(repository));
    return entries.some((entry) => entry.startsWith('_'));
  }

  private noteRepository(repository: string): void {
    if (this.catalog && !this.catalog.names.has(repository)) {
      this.catalog.names.add(repository);
      this.catalog.sorted = null;
    }
  }

  /**
   * Lists a level's directories in parallel: on object storage each listing is a request, and a catalog of a
   * thousand repositories walked one listing at a time would take seconds.
   */
  private async walkRepositories(prefix: string, names: Set<string>, limit = pLimit(CATALOG_WALK_CONCURRENCY)): Promise<void> {
    const directory = prefix ? `${REPOSITORIES_ROOT}/${prefix}` : REPOSITORIES_ROOT;
    const entries = await limit(() => this.driver.list(directory));
    if (prefix && entries.some((entry) => entry.startsWith('_'))) names.add(prefix);
    await Promise.all(entries.filter((entry) => !entry.startsWith('_'))
      .map((entry) => this.walkRepositories(prefix ? `${prefix}/${entry}` : entry, names, limit)));
  }

  /** digests stored as `<dir>/<algorithm>/<hex>` */
  private async digestsUnder(directory: string): Promise<ParsedDigest[]> {
    const digests: ParsedDigest[] = [];
    for await (const digest of this.walkDigestsUnder(directory)) digests.push(digest);
    return digests;
  }

  private async *walkDigestsUnder(directory: string): AsyncGenerator<ParsedDigest> {
    for (const algorithm of await this.driver.list(directory)) {
      for (const hex of await this.driver.list(`${directory}/${algorithm}`)) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest) yield digest;
      }
    }
  }
}
