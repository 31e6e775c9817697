// Per-repository figures for the repository list and the storage page: tag count, stored size, last push and last
// pull. The size walks every manifest record of the repository and stats each blob, so it is computed only for the
// repositories a page shows, kept for a short while, and computed once for callers asking at the same time.
import pLimit from 'p-limit';
import type { BlobStore } from '../content/blob-store.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import { tryParseDigest } from '../oci/digest.ts';

export interface RepositoryFigures {
  tags: number;
  manifests: number;
  /** bytes of the distinct blobs and manifests the repository references; a blob shared with another repository counts in both */
  storedBytes: number;
  /** the newest manifest push (re-tagging an existing manifest is not counted) */
  lastPushedAt: Date | null;
  lastPulledAt: Date | null;
}

/** how long figures are reused: pushes show within this time */
const FIGURES_TTL_MS = 30_000;
const FIGURES_KEPT = 5_000;
/** storage calls in flight for one repository's figures */
const IO_CONCURRENCY = 8;

function latest(times: Iterable<string>): Date | null {
  let newest = '';
  for (const time of times) if (time > newest) newest = time;
  return newest ? new Date(newest) : null;
}

export class RepositoryStats {
  private readonly repositories: RepositoryStore;
  private readonly blobs: BlobStore;
  private readonly cache = new Map<string, { at: number; figures: Promise<RepositoryFigures> }>();

  constructor(repositories: RepositoryStore, blobs: BlobStore) {
    this.repositories = repositories;
    this.blobs = blobs;
  }

  figures(repository: string): Promise<RepositoryFigures> {
    const cached = this.cache.get(repository);
    if (cached && Date.now() - cached.at < FIGURES_TTL_MS) return cached.figures;
    const figures = this.compute(repository);
    // a failure is not kept: the next page view tries again
    figures.catch(() => this.cache.delete(repository));
    if (this.cache.size >= FIGURES_KEPT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(repository, { at: Date.now(), figures });
    return figures;
  }

  /** a deleted tag or manifest shows at once on the next page */
  forget(repository: string): void {
    this.cache.delete(repository);
  }

  private async compute(repository: string): Promise<RepositoryFigures> {
    const limit = pLimit(IO_CONCURRENCY);
    const [tags, digests, pulls] = await Promise.all([
      this.repositories.listTags(repository),
      this.repositories.manifestDigests(repository),
      this.repositories.pullTimes(repository),
    ]);
    const records = await Promise.all(digests.map((digest) => limit(() => this.repositories.getManifest(repository, digest, { scan: true }))));
    const blobs = new Set<string>();
    let storedBytes = 0;
    const pushTimes: string[] = [];
    for (const record of records) {
      if (!record) continue;
      storedBytes += record.size;
      pushTimes.push(record.pushedAt);
      for (const blob of record.blobs) blobs.add(blob);
    }
    const sizes = await Promise.all([...blobs].map((blob) => limit(async () => {
      const digest = tryParseDigest(blob);
      return digest ? (await this.blobs.size(digest)) ?? 0 : 0;
    })));
    for (const size of sizes) storedBytes += size;
    return {
      tags: tags.length,
      manifests: pushTimes.length,
      storedBytes,
      lastPushedAt: latest(pushTimes),
      lastPulledAt: latest([...Object.values(pulls.tags), ...Object.values(pulls.manifests)]),
    };
  }
}
