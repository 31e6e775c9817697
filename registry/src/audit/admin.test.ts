import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminAuditFields, retentionAuditDetail } from './admin.ts';

describe('admin audit events', () => {
  it('names GC, retention, backup and restore requests by their path; other admin routes are not audited', () => {
    assert.deepEqual(adminAuditFields('/admin/v1/gc'), { action: 'gc' });
    assert.deepEqual(adminAuditFields('/admin/v1/retention?x=1'), { action: 'retention' });
    assert.deepEqual(adminAuditFields('/admin/v1/backup'), { action: 'backup' });
    assert.deepEqual(adminAuditFields('/admin/v1/restore'), { action: 'restore' });
    assert.equal(adminAuditFields('/admin/v1/unknown'), null);
  });

  it('keeps a retention summary\'s totals and at most 100 repositories, saying how many more there were', () => {
    const repositories = Array.from({ length: 250 }, (_, i) => ({ name: `team/app-${i}`, tags: ['v1'], moreTags: 0, manifests: 1 }));
    const detail = retentionAuditDetail({ finishedAt: 't', dryRun: false, tagsDeleted: 250, manifestsDeleted: 250, repositories });
    assert.equal((detail.repositories as unknown[]).length, 100);
    assert.deepEqual([detail.tagsDeleted, detail.manifestsDeleted, detail.moreRepositories, detail.dryRun], [250, 250, 150, false]);
    assert.equal('moreRepositories' in retentionAuditDetail({ finishedAt: 't', dryRun: true, tagsDeleted: 1, manifestsDeleted: 0, repositories: repositories.slice(0, 1) }), false);
  });
});
