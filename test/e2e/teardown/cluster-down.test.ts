// Runs last, and only when the test run brought the local cluster up itself: `npm run cluster:down` must leave
// no process of the cluster running, no mount, no bridge and no firewall rule behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const cache = process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop');
const state = join(cache, 'cluster');

function processesOfTheCluster(): string[] {
  const lines = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(join(cache, 'k8s-')) || line.includes(state) || /\b(kubelet|kube-apiserver|kube-proxy|etcd|coredns|local-path-provisioner)\b.*--/.test(line));
}

describe('cluster:down', () => {
  it('stops every cluster process and leaves no mount, bridge or firewall rule behind', () => {
    execFileSync('bash', ['test/cluster/down.sh'], { stdio: 'inherit' });
    assert.deepEqual(processesOfTheCluster(), []);
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((line) => line.includes(state) || line.includes('/run/containerd/'));
    assert.deepEqual(mounts, []);
    assert.equal(existsSync(state), false, 'the cluster state directory is still there');
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    assert.ok(!links.includes('regop0'), 'the pod bridge is still there');
    const rules = execFileSync('iptables', ['-S'], { encoding: 'utf8' });
    assert.ok(!rules.includes('REGOP-GUARD') && !rules.includes('KUBE-SERVICES'), 'firewall rules are left behind');
  });
});
