// The node addresses a Registry's NetworkPolicy admits (other nodes' kubelets pulling, NodePort traffic), and
// which Node events change them: the Node informer re-enqueues the Registries only then, not on every status
// heartbeat of every node.
import type { V1Node } from '@kubernetes/client-node';

const ADMITTED_TYPES = new Set(['InternalIP', 'ExternalIP']);

export function admittedAddresses(node: V1Node): string[] {
  return (node.status?.addresses ?? []).filter((a) => ADMITTED_TYPES.has(a.type)).map((a) => a.address);
}

/** remembers each node's admitted addresses, to tell which events change them */
export class NodeAddressChanges {
  private readonly known = new Map<string, string>();

  /** whether this event adds, removes or changes admitted addresses; a resync or heartbeat that changes none is not */
  changed(node: V1Node, event: 'add' | 'update' | 'delete' | 'resync'): boolean {
    const name = node.metadata?.name ?? '';
    if (event === 'delete') return this.known.delete(name);
    const addresses = admittedAddresses(node).sort().join(',');
    if (this.known.get(name) === addresses) return false;
    this.known.set(name, addresses);
    return true;
  }
}
