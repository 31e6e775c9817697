// The shape every operator-owned Secret shares: owned by the Registry, labelled, content as stringData.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata } from './names.ts';

export function ownedSecret(registry: Registry, name: string, type: string, stringData: Record<string, string>): V1Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: childMetadata(registry, name), type, stringData };
}
