// What a Registry's children are built from, read from the cluster: user passwords and TLS material. Each
// check is a link in a policy chain (as cert-manager's Ready condition is): the first that fails gives the
// Degraded reason and message, and nothing is applied, so a bad change never breaks a running registry.
import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import {
  createCertificateAuthority, generateKeys, isLoadable, issueServingCertificate, renewalDueAt, servingCertificateRenewalReason,
  type CertificateKeys, type KeyPair,
} from '../certs/certificates.ts';
import { isNotFound, OPERATOR_MADE, type ClusterClient } from '../kube/cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { buildAdminTokenSecret, buildGeneratedPasswordSecret, type UserCredential } from '../resources/auth-secret.ts';
import { buildCertificate } from '../resources/certificate.ts';
import { childNames, PULLER_USER, serviceHostnames } from '../resources/names.ts';
import { serviceAddresses } from './service-addresses.ts';
import {
  buildCaCertSecret, buildCaKeySecret, buildServingSecret, RENEW_CERTIFICATE_ANNOTATION, RENEWED_FOR_ANNOTATION, renewalRequestOf,
} from '../resources/tls-secret.ts';

/** A problem the user must fix in the spec or in a referenced object; reported as Degraded, retried slowly. */
export class InputError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'InputError';
    this.reason = reason;
  }
}

/** Not an error: an input another controller produces (cert-manager's Secret) is not there yet. */
export class WaitingForInput extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'WaitingForInput';
    this.reason = reason;
  }
}

export interface TlsInputs {
  /** the Secret the pod mounts (tls.crt, tls.key) */
  servingSecretName: string;
  certPem: string;
  /** the Secret users read the CA from (ca.crt), when there is one */
  caSecretName?: string;
  caPem?: string;
  renewAt?: Date;
}

export interface RegistryInputs {
  users: UserCredential[];
  pullerPassword?: string;
  /** operator-owned Secrets to apply before the children that use them */
  secrets: V1Secret[];
  tls?: TlsInputs;
}

const SECRET = { apiVersion: 'v1', kind: 'Secret' };

/** one key of a Secret as read (data, base64) or as written by a test or a fake (stringData) */
export function secretValue(secret: V1Secret | null, key: string): string | undefined {
  const encoded = secret?.data?.[key];
  if (encoded !== undefined) return Buffer.from(encoded, 'base64').toString('utf8');
  return secret?.stringData?.[key];
}

export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

export async function generatedPassword(
  client: ClusterClient, registry: Registry, secretName: string, user: string, inputs: RegistryInputs, events: EventSink,
): Promise<string> {
  const existing = await client.get<V1Secret>({ ...SECRET, namespace: registry.metadata.namespace, name: secretName }, OPERATOR_MADE);
  let password = secretValue(existing, 'password');
  if (!password) {
    password = generatePassword();
    events.normal(registry, 'PasswordGenerated', `generated a password for user ${user} into Secret ${secretName}`);
  }
  inputs.secrets.push(buildGeneratedPasswordSecret(registry, secretName, user, password));
  return password;
}

async function resolveUsers(client: ClusterClient, registry: Registry, inputs: RegistryInputs, events: EventSink): Promise<void> {
  const names = childNames(registry.metadata.name);
  for (const user of registry.spec.auth?.users ?? []) {
    const access = user.access ?? [{ repositories: ['**'], actions: ['pull', 'push', 'delete'] }];
    let password: string;
    if (user.passwordSecretRef) {
      const ref = user.passwordSecretRef;
      const key = ref.key ?? 'password';
      const secret = await client.get<V1Secret>({ ...SECRET, namespace: registry.metadata.namespace, name: ref.name });
      if (!secret) throw new InputError('PasswordSecretNotFound', `Secret ${ref.name} (password of user ${user.name}) not found`);
      const value = secretValue(secret, key);
      if (!value) throw new InputError('PasswordKeyMissing', `Secret ${ref.name} has no key ${key} (password of user ${user.name})`);
      password = value;
    } else {
      password = await generatedPassword(client, registry, names.userSecret(user.name), user.name, inputs, events);
    }
    inputs.users.push({ name: user.name, password, access });
  }
  if ((registry.spec.pullSecret?.namespaces ?? []).length > 0) {
    inputs.pullerPassword = await generatedPassword(client, registry, names.puller, PULLER_USER, inputs, events);
    inputs.users.push({ name: PULLER_USER, password: inputs.pullerPassword, access: [{ repositories: ['**'], actions: ['pull'] }] });
  }
}

function keyPairOf(secret: V1Secret | null): KeyPair | undefined {
  const certPem = secretValue(secret, 'tls.crt');
  const keyPem = secretValue(secret, 'tls.key');
  return certPem && keyPem ? { certPem, keyPem } : undefined;
}

async function resolveSelfSigned(
  client: ClusterClient, registry: Registry, inputs: RegistryInputs, events: EventSink, now: Date,
): Promise<TlsInputs> {
  const names = childNames(registry.metadata.name);
  const namespace = registry.metadata.namespace;
  let ca = keyPairOf(await client.get<V1Secret>({ ...SECRET, namespace, name: names.caKey }, OPERATOR_MADE));
  if (ca && !isLoadable(ca.certPem)) {
    events.warning(registry, 'CertificateAuthorityReplaced', `the CA in Secret ${names.caKey} cannot be loaded by TLS clients; created a new one, which clients that trusted the old one must trust instead`);
    ca = undefined;
  }
  let servingKeys: CertificateKeys | undefined;
  if (!ca) {
    // a new CA needs a new serving certificate: both keys are generated at once, on two threads
    [ca, servingKeys] = await Promise.all([createCertificateAuthority(`regop ${namespace}/${registry.metadata.name}`, now), generateKeys()]);
    events.normal(registry, 'CertificateAuthorityCreated', `created a CA in Secret ${names.caKey}`);
  }
  const existing = await client.get<V1Secret>({ ...SECRET, namespace, name: names.tls }, OPERATOR_MADE);
  let serving = keyPairOf(existing);
  // the ClusterIP too: nodes pull through it (node agent) and verify the certificate for it
  const wanted = [...serviceHostnames(registry), ...await serviceAddresses(client, registry)];
  const requested = renewalRequestOf(registry, RENEW_CERTIFICATE_ANNOTATION);
  const reason = servingCertificateRenewalReason(serving, ca, wanted, now)
    ?? (requested && requested !== renewalRequestOf(existing, RENEWED_FOR_ANNOTATION) ? 'RenewalRequested' : null);
  if (reason) {
    serving = await issueServingCertificate(ca, wanted, now, servingKeys);
    events.normal(registry, 'CertificateIssued', `issued a serving certificate (${reason}) into Secret ${names.tls}; running pods load it without a restart`);
  }
  inputs.secrets.push(buildCaKeySecret(registry, ca), buildCaCertSecret(registry, ca.certPem), buildServingSecret(registry, serving!, ca.certPem, requested));
  return {
    servingSecretName: names.tls,
    certPem: serving!.certPem,
    caSecretName: names.caCert,
    caPem: ca.certPem,
    renewAt: renewalDueAt(serving!.certPem),
  };
}

async function resolveExistingSecret(client: ClusterClient, registry: Registry): Promise<TlsInputs> {
  const name = registry.spec.tls!.secretName!;
  const secret = await client.get<V1Secret>({ ...SECRET, namespace: registry.metadata.namespace, name });
  if (!secret) throw new InputError('TLSSecretNotFound', `TLS Secret ${name} not found`);
  const pair = keyPairOf(secret);
  if (!pair) throw new InputError('TLSSecretInvalid', `TLS Secret ${name} needs tls.crt and tls.key`);
  const caPem = secretValue(secret, 'ca.crt');
  return { servingSecretName: name, certPem: pair.certPem, ...(caPem ? { caPem, caSecretName: name } : {}) };
}

async function resolveCertManager(client: ClusterClient, registry: Registry): Promise<TlsInputs> {
  const names = childNames(registry.metadata.name);
  try {
    // applied here, ahead of the other children: the Secret it yields is an input to them
    await client.apply(buildCertificate(registry)! as unknown as KubernetesObject);
  } catch (error) {
    if (isNotFound(error)) {
      throw new InputError('CertManagerNotInstalled', 'tls.mode is CertManager but cert-manager.io/v1 Certificate is not served by this cluster');
    }
    throw error;
  }
  const secret = await client.get<V1Secret>({ ...SECRET, namespace: registry.metadata.namespace, name: names.tls });
  const pair = keyPairOf(secret);
  if (!pair) throw new WaitingForInput('WaitingForCertificate', `waiting for cert-manager to issue Secret ${names.tls}`);
  const caPem = secretValue(secret, 'ca.crt');
  return { servingSecretName: names.tls, certPem: pair.certPem, ...(caPem ? { caPem, caSecretName: names.tls } : {}) };
}

async function resolveAdminToken(client: ClusterClient, registry: Registry, inputs: RegistryInputs): Promise<void> {
  const name = childNames(registry.metadata.name).admin;
  const existing = await client.get<V1Secret>({ ...SECRET, namespace: registry.metadata.namespace, name }, OPERATOR_MADE);
  inputs.secrets.push(buildAdminTokenSecret(registry, secretValue(existing, 'token') ?? generatePassword()));
}

export async function resolveInputs(client: ClusterClient, registry: Registry, events: EventSink, now = new Date()): Promise<RegistryInputs> {
  const inputs: RegistryInputs = { users: [], secrets: [] };
  await resolveUsers(client, registry, inputs, events);
  await resolveAdminToken(client, registry, inputs);
  switch (registry.spec.tls?.mode ?? 'SelfSigned') {
    case 'SelfSigned':
      inputs.tls = await resolveSelfSigned(client, registry, inputs, events, now);
      break;
    case 'Secret':
      inputs.tls = await resolveExistingSecret(client, registry);
      break;
    case 'CertManager':
      inputs.tls = await resolveCertManager(client, registry);
      break;
    case 'Disabled':
      break;
  }
  return inputs;
}
