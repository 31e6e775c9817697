// ClusterClient over a real API server, with client-node's generic object API.
import {
  CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions,
  type KubeConfig, type KubernetesObject,
} from '@kubernetes/client-node';
import { isNotFound, type ApplyOptions, type ClusterClient, type ObjectKey } from './cluster-client.ts';

/**
 * Server-side apply tracks ownership of `data`, which is what the API server stores; applying `stringData`
 * makes every apply look like a change to another manager's field. So Secrets are applied as `data`.
 */
export function withSecretDataEncoded<T extends KubernetesObject>(manifest: T): T {
  const secret = manifest as T & { stringData?: Record<string, string>; data?: Record<string, string> };
  if (manifest.kind !== 'Secret' || !secret.stringData) return manifest;
  const data: Record<string, string> = { ...secret.data };
  for (const [key, value] of Object.entries(secret.stringData)) data[key] = Buffer.from(value, 'utf8').toString('base64');
  const { stringData: _unused, ...rest } = secret;
  return { ...rest, data } as T;
}

function header(key: ObjectKey): KubernetesObject & { metadata: { name: string; namespace?: string } } {
  return {
    apiVersion: key.apiVersion,
    kind: key.kind,
    metadata: { name: key.name, ...(key.namespace ? { namespace: key.namespace } : {}) },
  };
}

function groupVersion(apiVersion: string): { group: string; version: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  return { group, version };
}

export class KubernetesClusterClient implements ClusterClient {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly fieldManager: string;
  /** kind → plural, for the status subresource of our own kinds */
  private readonly plurals: Record<string, string>;

  constructor(kubeConfig: KubeConfig, fieldManager: string, plurals: Record<string, string>) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.fieldManager = fieldManager;
    this.plurals = plurals;
  }

  async get<T extends KubernetesObject>(key: ObjectKey): Promise<T | null> {
    try {
      return (await this.objects.read(header(key) as never)) as T;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, labelSelector: string): Promise<T[]> {
    const items: T[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector, 500, continueToken);
      items.push(...page.items.map((item) => ({ apiVersion, kind, ...item }) as T));
      continueToken = page.metadata?._continue || undefined;
    } while (continueToken);
    return items;
  }

  async apply<T extends KubernetesObject>(manifest: T, options: ApplyOptions = {}): Promise<T> {
    const fieldManager = options.fieldManager ?? this.fieldManager;
    return this.objects.patch(withSecretDataEncoded(manifest), undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }

  async delete(key: ObjectKey): Promise<void> {
    try {
      await this.objects.delete(header(key), undefined, undefined, undefined, undefined, 'Background');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async patchStatus(key: ObjectKey, status: unknown): Promise<KubernetesObject> {
    const { group, version } = groupVersion(key.apiVersion);
    const plural = this.plurals[key.kind];
    if (!plural) throw new Error(`no plural known for ${key.kind}`);
    return this.custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: key.namespace!, plural, name: key.name, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async annotate(key: ObjectKey, annotations: Record<string, string>): Promise<void> {
    const patch = { ...header(key), metadata: { ...header(key).metadata, annotations } };
    try {
      await this.objects.patch(patch, undefined, undefined, this.fieldManager, undefined, PatchStrategy.MergePatch);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async setFinalizers(key: ObjectKey, finalizers: string[], resourceVersion: string | undefined): Promise<KubernetesObject> {
    const patch = {
      ...header(key),
      metadata: { ...header(key).metadata, finalizers, ...(resourceVersion ? { resourceVersion } : {}) },
    };
    return this.objects.patch(patch, undefined, undefined, this.fieldManager, undefined, PatchStrategy.MergePatch);
  }
}
