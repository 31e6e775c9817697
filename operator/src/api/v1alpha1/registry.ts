// The Registry API (regop.dev/v1alpha1): its names and the types the controllers use. The types are derived from
// the API's one definition, the TypeBox schemas in registry.schema.ts, which also give the CRD its schema, its
// descriptions (`kubectl explain`), defaults and validation: `npm run generate` writes crds/ and the chart's CRD
// templates from them, and crds.test.ts fails when the committed files differ. Edit the schemas, not the YAML.
// Only types are imported from there: the operator does not load TypeBox.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Static } from '@sinclair/typebox';
import type * as S from './registry.schema.ts';

export const GROUP = 'regop.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const REGISTRY_KIND = 'Registry';
export const REGISTRY_PLURAL = 'registries';

export type RegistryAction = Static<typeof S.RegistryActionSchema>;
export type AccessRule = Static<typeof S.AccessRuleSchema>;
export type SecretKeyRef = Static<typeof S.SecretKeyRefSchema>;
export type RegistryUser = Static<typeof S.RegistryUserSchema>;
/** one key of a ConfigMap or Secret */
export type KeyRef = Static<typeof S.KeyRefSchema>;
/** A pull-through mirror of another registry, served under a repository prefix (mirrors.ts). */
export type RegistryMirror = Static<typeof S.RegistryMirrorSchema>;
/** An S3-compatible bucket instead of a volume: any number of stateless replicas share it. */
export type RegistryS3Storage = Static<typeof S.RegistryS3StorageSchema>;
export type RegistryStorage = Static<typeof S.RegistryStorageSchema>;
/** a HorizontalPodAutoscaler owns the replica count: spec.replicas is then ignored */
export type RegistryAutoscaling = Static<typeof S.RegistryAutoscalingSchema>;
/** Where a Registry's backups go: a claim mounted into the registry pods, or an S3-compatible bucket. */
export type RegistryBackupDestination = Static<typeof S.RegistryBackupDestinationSchema>;
/** Scheduled backups through the registry's maintenance API (resources/backup.ts). */
export type RegistryBackup = Static<typeof S.RegistryBackupSchema>;
/** A webhook that receives the registry's audit events as CloudEvents (the registry's `notifications.endpoints`). */
export type RegistryWebhook = Static<typeof S.RegistryWebhookSchema>;
/** Who may reach the registry's pods, and where they may connect. Nodes and the operator's namespace are always admitted. */
export type RegistryNetworkPolicy = Static<typeof S.RegistryNetworkPolicySchema>;
export type RegistrySpec = Static<typeof S.RegistrySpecSchema>;
/** What the last backup Job did, from its summary. */
export type BackupRunStatus = Static<typeof S.BackupRunStatusSchema>;
export type MirrorStatus = Static<typeof S.MirrorStatusSchema>;
export type RegistryStatus = Static<typeof S.RegistryStatusSchema>;

export interface Registry {
  apiVersion: typeof API_VERSION;
  kind: typeof REGISTRY_KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: RegistrySpec;
  status?: RegistryStatus;
}
