import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildReportConfigMap, parseReport, reportName, type NodeReport } from './report.ts';

describe('node report', () => {
  it('round-trips through its ConfigMap, owned by the agent pod', () => {
    const report: NodeReport = {
      node: 'node-a', runtime: { ok: true }, directory: { ok: false, reason: 'DirectoryNotWritable', message: 'EROFS' },
      registries: { 'apps/team': { configured: true, reason: 'Configured', message: 'ok', host: 'team.apps.svc', server: 'https://10.0.0.1' } },
    };
    const map = buildReportConfigMap('regop-system', report, { name: 'agent-x', uid: 'u' });
    assert.equal(map.metadata!.name, 'regop-node-agent.node-a');
    assert.equal(map.metadata!.ownerReferences![0]!.uid, 'u');
    assert.deepEqual(parseReport(map), report);
  });

  it('reads nothing it does not understand', () => {
    assert.equal(parseReport({ data: { 'report.json': 'not json' } }), null);
    assert.equal(parseReport({ data: {} }), null);
    assert.equal(parseReport({ data: { 'report.json': '{"node":"a"}' } }), null);
    const odd = parseReport({ data: { 'report.json': '{"node":"a","registries":{"x/y":{"configured":"yes"}}}' } });
    assert.deepEqual(odd?.registries['x/y'], { configured: false, reason: 'Unknown', message: '' });
  });

  it('keeps long node names within a ConfigMap name', () => {
    assert.ok(reportName('n'.repeat(253)).length <= 253);
  });
});
