import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1DaemonSet } from '@kubernetes/client-node';
import type { ObjectKey } from '../kube/cluster-client.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import { buildReportConfigMap } from '../node-agent/report.ts';
import { DAEMON_SET_READ_TTL_MS, nodeAgentView } from './node-agent-view.ts';

class CountingClient extends FakeClusterClient {
  gets = 0;
  forbidden = false;
  override async get<T extends KubernetesObject>(key: ObjectKey): Promise<T | null> {
    this.gets++;
    if (this.forbidden) throw Object.assign(new Error('forbidden'), { code: 403 });
    return super.get<T>(key);
  }
}

const daemonSet = (desired: number): V1DaemonSet => ({
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'regop-node-agent', namespace: 'regop-system' },
  status: { desiredNumberScheduled: desired, currentNumberScheduled: desired, numberMisscheduled: 0, numberReady: desired },
});

const reportOf = (node: string) => buildReportConfigMap('regop-system', { node, runtime: { ok: true }, directory: { ok: true }, registries: {} });

describe('nodeAgentView', () => {
  it('reads the agent DaemonSet once for the passes of several Registries, and again once it may have changed', async () => {
    const client = new CountingClient();
    client.put(daemonSet(3));
    const reports = ['a', 'b', 'c'].map(reportOf);
    let clock = 0;
    const view = nodeAgentView({ client, namespace: 'regop-system', name: 'regop-node-agent', reports: () => reports }, () => clock);

    const views = await Promise.all(Array.from({ length: 5 }, () => view()));
    assert.deepEqual(views.map((v) => v?.desiredNodes), [3, 3, 3, 3, 3]);
    clock += DAEMON_SET_READ_TTL_MS - 1;
    await view();
    assert.equal(client.gets, 1, 'passes within a few seconds of each other each asked the API server');

    client.put(daemonSet(4));
    clock += 1;
    assert.equal((await view())?.desiredNodes, 4, 'a node that joined was never counted');
    assert.equal(client.gets, 2);
  });

  it('reads it at each pass while the reports do not match it: a node joining shows at once', async () => {
    const client = new CountingClient();
    client.put(daemonSet(1));
    const reports = [reportOf('a')];
    const view = nodeAgentView({ client, namespace: 'regop-system', name: 'regop-node-agent', reports: () => reports }, () => 0);
    assert.equal((await view())?.desiredNodes, 1);
    client.put(daemonSet(2));
    reports.push(reportOf('b'));
    assert.equal((await view())?.desiredNodes, 2, 'the second node\'s report was held against a stale DaemonSet');
    assert.equal(client.gets, 2);
  });

  it('reports no view when the agent is not installed or the operator may not read it', async () => {
    const client = new CountingClient();
    let clock = 0;
    const view = nodeAgentView({ client, namespace: 'regop-system', name: 'regop-node-agent', reports: () => [] }, () => clock);
    assert.equal(await view(), null);
    client.forbidden = true;
    clock += DAEMON_SET_READ_TTL_MS;
    assert.equal(await view(), null);
  });
});
