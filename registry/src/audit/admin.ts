// The admin API's audited runs: garbage collection and retention, with what they deleted and freed.
import type { RetentionRunSummary } from '../ops/run-history.ts';
import type { AuditFields } from './auditor.ts';

/** a retention event names at most this many repositories (each with up to 50 tags): an event stays a few KiB */
const REPOSITORIES_LISTED = 100;

/** What an admin request is, from its path; null for one that is not audited. */
export function adminAuditFields(url: string): AuditFields | null {
  const path = url.split('?', 1)[0];
  if (path === '/admin/v1/gc') return { action: 'gc' };
  if (path === '/admin/v1/retention') return { action: 'retention' };
  if (path === '/admin/v1/backup') return { action: 'backup' };
  if (path === '/admin/v1/restore') return { action: 'restore' };
  return null;
}

/** the run's summary as the storage page keeps it, its list of repositories cut to a bounded size */
export function retentionAuditDetail(summary: RetentionRunSummary): Record<string, unknown> {
  const { repositories, ...totals } = summary;
  return {
    ...totals,
    repositories: repositories.slice(0, REPOSITORIES_LISTED),
    ...(repositories.length > REPOSITORIES_LISTED ? { moreRepositories: repositories.length - REPOSITORIES_LISTED } : {}),
  };
}
