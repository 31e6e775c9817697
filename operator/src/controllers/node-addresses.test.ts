import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { admittedAddresses, NodeAddressChanges } from './node-addresses.ts';

const node = (name: string, addresses: Array<[string, string]>, heartbeat = '2026-03-01T10:00:00Z'): V1Node => ({
  metadata: { name },
  status: { addresses: addresses.map(([type, address]) => ({ type, address })), conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(heartbeat) }] },
});

describe('node addresses a NetworkPolicy admits', () => {
  it('are the InternalIP and ExternalIP addresses, not host names', () => {
    assert.deepEqual(admittedAddresses(node('n1', [['InternalIP', '192.168.5.10'], ['Hostname', 'n1'], ['ExternalIP', '203.0.113.4']])), ['192.168.5.10', '203.0.113.4']);
  });

  it('change when a node joins, its addresses change or it leaves; not on heartbeats and resyncs', () => {
    const changes = new NodeAddressChanges();
    assert.equal(changes.changed(node('n1', [['InternalIP', '192.168.5.10']]), 'add'), true);
    assert.equal(changes.changed(node('n1', [['InternalIP', '192.168.5.10']], '2026-03-01T10:00:40Z'), 'update'), false);
    assert.equal(changes.changed(node('n1', [['InternalIP', '192.168.5.10'], ['Hostname', 'n1']]), 'resync'), false);
    assert.equal(changes.changed(node('n1', [['InternalIP', '192.168.5.11']]), 'update'), true);
    assert.equal(changes.changed(node('n2', [['InternalIP', '192.168.5.12']]), 'add'), true);
    assert.equal(changes.changed(node('n2', []), 'delete'), true);
    assert.equal(changes.changed(node('n2', []), 'delete'), false);
  });
});
