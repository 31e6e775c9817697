// The Registry API (regop.dev/v1alpha1). The CRD's OpenAPI schema in crds/regop.dev_registries.yaml is the
// source of validation and defaults; these types mirror it for the controller.
import type { V1Condition, V1NetworkPolicyPeer, V1ObjectMeta, V1ResourceRequirements } from '@kubernetes/client-node';
import type { JobRunSummary } from './job-run.ts';

export const GROUP = 'regop.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const REGISTRY_KIND = 'Registry';
export const REGISTRY_PLURAL = 'registries';

export type RegistryAction = 'pull' | 'push' | 'delete';

export interface AccessRule {
  repositories: string[];
  actions: RegistryAction[];
}

export interface SecretKeyRef {
  name: string;
  key?: string;
}

export interface RegistryUser {
  name: string;
  /** an existing Secret holding the password; without it the operator generates one into `<registry>-user-<name>` */
  passwordSecretRef?: SecretKeyRef;
  access?: AccessRule[];
}

/** one key of a ConfigMap or Secret */
export interface KeyRef {
  name: string;
  key?: string;
}

/** A pull-through mirror of another registry, served under a repository prefix (mirrors.ts). */
export interface RegistryMirror {
  /** the host image references name (`docker.io`, `ghcr.io`, `10.217.0.1:24443`): what nodes redirect here */
  registry: string;
  /** https://host[:port] of the registry API to fetch from */
  upstream: string;
  /** a Secret with `username` and `password` for the upstream */
  credentialsSecretRef?: { name: string };
  /** how long a tag is served before it is revalidated upstream (a duration: 5m) */
  tagTTL?: string;
  /** a quantity (10Gi): past it, the least recently pulled content is evicted */
  maxSize?: string;
  /** an extra CA (PEM) to trust for the upstream: exactly one of the two refs */
  ca?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
}

/** An S3-compatible bucket instead of a volume: any number of stateless replicas share it. */
export interface RegistryS3Storage {
  bucket: string;
  /** http(s)://host[:port] of an S3-compatible server; unset: AWS's endpoint for the region */
  endpoint?: string;
  region?: string;
  /** key prefix inside the bucket */
  prefix?: string;
  forcePathStyle?: boolean;
  /** blob GETs answer with a redirect to a presigned URL: clients must reach the endpoint */
  redirect?: boolean;
  /** a Secret in the Registry's namespace; its two keys are mounted as files, never passed in the environment */
  credentialsSecretRef: {
    name: string;
    /** default accessKeyId */
    accessKeyIdKey?: string;
    /** default secretAccessKey */
    secretAccessKeyKey?: string;
  };
}

export interface RegistryStorage {
  size?: string;
  storageClassName?: string;
  existingClaim?: string;
  accessMode?: 'ReadWriteOnce' | 'ReadWriteMany';
  /** what happens to an operator-created PVC when the Registry is deleted */
  reclaimPolicy?: 'Retain' | 'Delete';
  /** instead of every field above */
  s3?: RegistryS3Storage;
}

/** a HorizontalPodAutoscaler owns the replica count: spec.replicas is then ignored */
export interface RegistryAutoscaling {
  minReplicas?: number;
  maxReplicas: number;
  targetCPUUtilizationPercentage?: number;
}

/** Where a Registry's backups go: a claim mounted into the registry pods, or an S3-compatible bucket. */
export interface RegistryBackupDestination {
  persistentVolumeClaim?: { claimName: string };
  s3?: Omit<RegistryS3Storage, 'redirect'>;
}

/** Scheduled backups through the registry's maintenance API (resources/backup.ts). */
export interface RegistryBackup {
  /** cron, in timeZone (default UTC) */
  schedule: string;
  timeZone?: string;
  suspend?: boolean;
  /** snapshots kept; older ones and the blobs only they held are deleted after each backup */
  keep?: number;
  destination: RegistryBackupDestination;
}

/** What the last backup Job did, from its summary. */
export interface BackupRunStatus extends JobRunSummary {
  snapshot?: string;
  images?: number;
  tags?: number;
  blobsCopied?: number;
  bytesCopied?: number;
  bytesSkipped?: number;
}

/** A webhook that receives the registry's audit events as CloudEvents (the registry's `notifications.endpoints`). */
export interface RegistryWebhook {
  /** names it in metrics and logs; unique */
  name: string;
  /** http(s) URL the events are POSTed to; no credentials in it (they would be in the config file) */
  url: string;
  /** header values that are not secret */
  headers?: Record<string, string>;
  /** header values from Secrets in the Registry's namespace, mounted as files and read at each delivery */
  headersFrom?: { name: string; secretKeyRef: { name: string; key: string } }[];
  /** the audit actions sent (manifest.push, tag.update, ...); unset: all */
  events?: string[];
  /** one delivery attempt at most (a duration: 5s) */
  timeout?: string;
  retries?: number;
  /** events waiting at most; past it new ones are dropped and counted */
  queueSize?: number;
}

/** Who may reach the registry's pods, and where they may connect. Nodes and the operator's namespace are always admitted. */
export interface RegistryNetworkPolicy {
  enabled?: boolean;
  /** peers admitted to the registry API (default: every pod in the cluster) */
  allowFrom?: V1NetworkPolicyPeer[];
  /** peers admitted to the metrics port besides the operator (default: namespaces labelled regop.dev/monitoring=true) */
  metricsFrom?: V1NetworkPolicyPeer[];
  /** egress only to DNS and the upstreams' and bucket's ports (default: true) */
  restrictEgress?: boolean;
}

export interface RegistrySpec {
  image?: string;
  imagePullPolicy?: string;
  replicas?: number;
  autoscaling?: RegistryAutoscaling;
  storage?: RegistryStorage;
  auth?: {
    anonymousPull?: boolean;
    users?: RegistryUser[];
  };
  tls?: {
    mode?: 'SelfSigned' | 'Secret' | 'CertManager' | 'Disabled';
    secretName?: string;
    issuerRef?: { name: string; kind?: string; group?: string };
    dnsNames?: string[];
  };
  service?: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
    port?: number;
    nodePort?: number;
  };
  ingress?: {
    host: string;
    className?: string;
  };
  resources?: V1ResourceRequirements;
  pullSecret?: {
    namespaces?: string[];
  };
  /** the node agent points every node's containerd at this registry (default: enabled) */
  nodeAccess?: {
    enabled?: boolean;
  };
  mirrors?: RegistryMirror[];
  /** scheduled backups (a CronJob `<registry>-backup`) */
  backup?: RegistryBackup;
  /** the registry's audit trail: JSON lines on its stdout, marked "logger":"audit" (default: enabled) */
  audit?: { enabled?: boolean };
  /** webhooks that receive the audit events */
  notifications?: { endpoints?: RegistryWebhook[] };
  /** a NetworkPolicy around the registry's pods (default: enabled; resources/network-policy.ts) */
  networkPolicy?: RegistryNetworkPolicy;
  /** the web UI the registry serves under /ui/ on its own port (default: enabled) */
  ui?: {
    enabled?: boolean;
    /** shown in the UI's header and page titles */
    title?: string;
  };
}

export interface RegistryStatus {
  observedGeneration?: number;
  conditions?: V1Condition[];
  url?: string;
  /** the web UI's address (status.url + /ui/), absent when spec.ui.enabled is false */
  uiUrl?: string;
  caSecretName?: string;
  readyReplicas?: number;
  storageUsed?: string;
  /** nodes whose containerd pulls this registry's host through the node agent, of all nodes: "3/3" */
  nodesConfigured?: string;
  /** what the mirrors hold, summed: the printer column */
  mirrorsCached?: string;
  mirrors?: MirrorStatus[];
  /** the newest backup Job: running, or what it copied */
  lastBackup?: BackupRunStatus;
}

export interface MirrorStatus {
  registry: string;
  /** the repository prefix it is served under in this registry */
  prefix: string;
  cachedBytes?: string;
  /** hits / (hits + misses) since the registry pods started, to two decimals ("0.93"); absent before any pull */
  hitRatio?: string;
}

export interface Registry {
  apiVersion: typeof API_VERSION;
  kind: typeof REGISTRY_KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: RegistrySpec;
  status?: RegistryStatus;
}
