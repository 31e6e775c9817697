// The last garbage collection, retention and backup runs, kept in storage (so every replica's web UI shows the same ones,
// whichever replica ran them): a summary per run, newest first, the last RUNS_KEPT of each kind.
import type { BackupReport } from '../backup/backup.ts';
import type { GcReport } from '../gc/collector.ts';
import type { RetentionResult } from '../retention/executor.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { readJsonFile } from '../storage/json-file.ts';
import { paths } from '../content/paths.ts';

export const RUNS_KEPT = 20;
/** a retention run lists at most this many deleted tags per repository in its summary */
const TAGS_LISTED_PER_REPOSITORY = 50;

export type RunKind = 'gc' | 'retention' | 'backup';

export interface GcRunSummary {
  finishedAt: string;
  dryRun: boolean;
  blobsDeleted: number;
  bytesFreed: number;
  linksRemoved: number;
  uploadsPurged: number;
  durationMs: number;
}

export interface RetentionRunSummary {
  finishedAt: string;
  dryRun: boolean;
  tagsDeleted: number;
  manifestsDeleted: number;
  /** repositories where something was (or, in a dry run, would have been) deleted */
  repositories: Array<{ name: string; tags: string[]; moreTags: number; manifests: number }>;
  /** the collection run with it, if any */
  gc?: GcRunSummary;
}

/** the figures of a backup report a run's summary keeps */
type BackupFigures = Pick<BackupReport, 'destination' | 'images' | 'tags' | 'blobsCopied' | 'bytesCopied' | 'blobsSkipped' | 'bytesSkipped' | 'durationMs'>;

/** a backup's outcome, failed ones too: the last backup's state is what an operator looks for */
export interface BackupRunSummary extends BackupFigures {
  finishedAt: string;
  result: 'succeeded' | 'failed';
  /** why it failed */
  error?: string;
  /** the snapshot written; unset when the backup failed */
  snapshot?: string;
}

export interface RunSummaries {
  gc: GcRunSummary;
  retention: RetentionRunSummary;
  backup: BackupRunSummary;
}

export function gcRunSummary(report: GcReport, finishedAt: Date): GcRunSummary {
  return {
    finishedAt: finishedAt.toISOString(),
    dryRun: report.dryRun,
    blobsDeleted: report.blobsDeleted,
    bytesFreed: report.bytesFreed,
    linksRemoved: report.linksRemoved,
    uploadsPurged: report.uploadsPurged,
    durationMs: report.durationMs,
  };
}

export function retentionRunSummary(result: RetentionResult, gc: GcReport | undefined, finishedAt: Date): RetentionRunSummary {
  return {
    finishedAt: finishedAt.toISOString(),
    dryRun: result.dryRun,
    // a dry run deletes nothing: its summary says what it would have
    tagsDeleted: result.dryRun ? result.plan.tagsDeleted : result.tagsDeleted,
    manifestsDeleted: result.dryRun ? result.plan.manifestsDeleted : result.manifestsDeleted,
    repositories: result.plan.repositories
      .filter((repository) => repository.deletedTags.length > 0 || repository.deletedManifests.length > 0)
      .map((repository) => ({
        name: repository.name,
        tags: repository.deletedTags.slice(0, TAGS_LISTED_PER_REPOSITORY).map((tag) => tag.tag),
        moreTags: Math.max(0, repository.deletedTags.length - TAGS_LISTED_PER_REPOSITORY),
        manifests: repository.deletedManifests.length,
      })),
    ...(gc ? { gc: gcRunSummary(gc, finishedAt) } : {}),
  };
}

export function backupRunSummary(report: BackupReport, finishedAt: Date): BackupRunSummary {
  return {
    finishedAt: finishedAt.toISOString(),
    result: 'succeeded',
    destination: report.destination,
    snapshot: report.snapshot,
    images: report.images,
    tags: report.tags,
    blobsCopied: report.blobsCopied,
    bytesCopied: report.bytesCopied,
    blobsSkipped: report.blobsSkipped,
    bytesSkipped: report.bytesSkipped,
    durationMs: report.durationMs,
  };
}

export function failedBackupSummary(destination: string, error: string, durationMs: number, finishedAt: Date): BackupRunSummary {
  return {
    finishedAt: finishedAt.toISOString(), result: 'failed', error: error.slice(0, 1000), destination,
    images: 0, tags: 0, blobsCopied: 0, bytesCopied: 0, blobsSkipped: 0, bytesSkipped: 0, durationMs,
  };
}

const runsPath = (kind: RunKind) => paths.runHistory(kind);

export class RunHistory {
  private readonly driver: StorageDriver;

  constructor(driver: StorageDriver) {
    this.driver = driver;
  }

  /** newest first */
  async list<K extends RunKind>(kind: K): Promise<Array<RunSummaries[K]>> {
    return (await readJsonFile<Array<RunSummaries[K]>>(this.driver, runsPath(kind))) ?? [];
  }

  /**
   * Adds a run. Two replicas finishing runs of one kind at the same moment may each write over the other's
   * summary; the history is for people to look at, and the next run is recorded again.
   */
  async record<K extends RunKind>(kind: K, summary: RunSummaries[K]): Promise<void> {
    const runs = [summary, ...await this.list(kind)].slice(0, RUNS_KEPT);
    await this.driver.putContent(runsPath(kind), JSON.stringify(runs));
  }
}
