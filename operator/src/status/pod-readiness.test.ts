import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { describeUnreadyPods, readinessCauses, unreadyPods } from './pod-readiness.ts';

function pod(name: string, ready: boolean, extra: Partial<V1Pod['status']> = {}, terminating = false): V1Pod {
  return {
    metadata: { name, ...(terminating ? { deletionTimestamp: new Date() } : {}) },
    status: { phase: 'Running', podIP: `10.0.0.${name.length}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], ...extra },
  };
}

describe('why registry pods are not ready', () => {
  it('asks running pods that fail their probe, not ready, pending or terminating ones', () => {
    const pods = [pod('a', true), pod('bb', false), pod('ccc', false, { phase: 'Pending' }), pod('dddd', false, {}, true), pod('eeeee', false, { podIP: undefined })];
    assert.deepEqual(unreadyPods(pods), [{ name: 'bb', ip: '10.0.0.2' }]);
  });

  it('does not ask a pod still in its startup probe: nothing listens there yet', () => {
    const starting = pod('ffffff', false, { containerStatuses: [{ name: 'registry', started: false, ready: false, restartCount: 0, image: 'x', imageID: '' }] });
    const started = pod('ggggggg', false, { containerStatuses: [{ name: 'registry', started: true, ready: false, restartCount: 0, image: 'x', imageID: '' }] });
    assert.deepEqual(unreadyPods([starting, started]), [{ name: 'ggggggg', ip: '10.0.0.7' }]);
  });

  it('takes the causes after the verdict line of a failed answer, none from a pod merely starting or ready', () => {
    const body = 'not ready\nstorage: bucket images at http://10.217.0.1:24000: NoSuchBucket\n';
    assert.deepEqual(readinessCauses({ status: 503, body }), ['storage: bucket images at http://10.217.0.1:24000: NoSuchBucket']);
    assert.deepEqual(readinessCauses({ status: 503, body: 'not ready\n' }), []);
    assert.deepEqual(readinessCauses({ status: 200, body: 'ready\nauth file htpasswd failed to load\n' }), [], 'degraded but serving is not unready');
  });

  it('says which pod says what, in a message of bounded length', () => {
    assert.equal(describeUnreadyPods([{ pod: 'team-a', causes: ['storage: x', 'other'] }, { pod: 'team-b', causes: ['storage: x'] }]),
      'registry pods are not ready: pod team-a: storage: x; other; pod team-b: storage: x');
    assert.ok(describeUnreadyPods([{ pod: 'p', causes: ['y'.repeat(5000)] }]).length <= 1001);
  });
});
