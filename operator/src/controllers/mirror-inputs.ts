// What a Registry's mirrors are built from, read from the cluster: each upstream's credentials and CA, and the
// password of the nodes' pull-only user. Links of the same policy chain as registry-inputs.ts: a missing or
// malformed input is an InputError, reported as Degraded before anything is applied, so a running registry
// keeps its last good configuration.
import { X509Certificate } from 'node:crypto';
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { mirrorPrefix, mirrorsProblem } from '../api/v1alpha1/mirrors.ts';
import type { KeyRef, Registry, RegistryMirror } from '../api/v1alpha1/registry.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { nodePullerWanted } from '../resources/auth-secret.ts';
import { buildMirrorsSecret } from '../resources/mirror-secret.ts';
import { childNames, NODE_PULLER_USER } from '../resources/names.ts';
import { mirrorFileNames } from '../resources/registry-config.ts';
import { generatedPassword, InputError, secretValue, type RegistryInputs } from './registry-inputs.ts';

export interface MirrorInputs {
  /** the Secret the registry pod mounts for its mirrors, when any mirror needs a file */
  secret?: V1Secret;
  /** upstream CAs by mirror prefix, published for the nodes' direct fallback */
  upstreamCas: Record<string, string>;
  /** the nodes' pull-only user's password, when nodes pull through the mirrors */
  nodePullerPassword?: string;
}

/** every certificate of a PEM bundle parses, and there is at least one */
function isCertificateBundle(pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    for (const block of blocks) new X509Certificate(block);
  } catch {
    return false;
  }
  return blocks.length > 0;
}

async function readCa(client: ClusterClient, namespace: string, mirror: RegistryMirror): Promise<string> {
  const fromConfigMap = mirror.ca!.configMapKeyRef;
  const ref: KeyRef = (fromConfigMap ?? mirror.ca!.secretKeyRef)!;
  const key = ref.key ?? 'ca.crt';
  const kind = fromConfigMap ? 'ConfigMap' : 'Secret';
  const where = `${kind} ${ref.name} (CA of mirror ${mirror.registry})`;
  const object = await client.get<V1ConfigMap & V1Secret>({ apiVersion: 'v1', kind, namespace, name: ref.name });
  if (!object) throw new InputError('MirrorCANotFound', `${where} not found`);
  const pem = fromConfigMap ? object.data?.[key] : secretValue(object, key);
  if (!pem) throw new InputError('MirrorCANotFound', `${where} has no key ${key}`);
  if (!isCertificateBundle(pem)) throw new InputError('MirrorCAInvalid', `${where}: key ${key} holds no PEM certificate`);
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

async function readCredentials(client: ClusterClient, namespace: string, mirror: RegistryMirror): Promise<string> {
  const name = mirror.credentialsSecretRef!.name;
  const secret = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace, name });
  if (!secret) throw new InputError('MirrorCredentialsNotFound', `Secret ${name} (credentials of mirror ${mirror.registry}) not found`);
  const username = secretValue(secret, 'username');
  const password = secretValue(secret, 'password');
  if (!username || !password) {
    throw new InputError('MirrorCredentialsInvalid', `Secret ${name} (credentials of mirror ${mirror.registry}) needs the keys username and password`);
  }
  return JSON.stringify({ username, password });
}

export async function resolveMirrorInputs(
  client: ClusterClient, registry: Registry, inputs: RegistryInputs, events: EventSink,
): Promise<MirrorInputs> {
  const result: MirrorInputs = { upstreamCas: {} };
  const mirrors = registry.spec.mirrors ?? [];
  if (mirrors.length === 0) return result;
  const problem = mirrorsProblem(registry);
  if (problem) throw new InputError('InvalidMirror', problem);
  const namespace = registry.metadata.namespace;
  const files: Record<string, string> = {};
  for (const mirror of mirrors) {
    const names = mirrorFileNames(mirror);
    if (mirror.credentialsSecretRef) files[names.credentials] = await readCredentials(client, namespace, mirror);
    if (mirror.ca) {
      files[names.ca] = await readCa(client, namespace, mirror);
      result.upstreamCas[mirrorPrefix(mirror.registry)] = files[names.ca];
    }
  }
  if (Object.keys(files).length > 0) result.secret = buildMirrorsSecret(registry, files);
  if (nodePullerWanted(registry)) {
    const password = await generatedPassword(client, registry, childNames(registry.metadata.name).nodePuller, NODE_PULLER_USER, inputs, events);
    result.nodePullerPassword = password;
    // its access rule (pull of the mirror prefixes only) comes from accessRulesOf, which renders the access file
    inputs.users.push({ name: NODE_PULLER_USER, password, access: [] });
  }
  return result;
}
