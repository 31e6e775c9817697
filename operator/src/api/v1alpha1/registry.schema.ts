// The Registry API's definition: TypeBox schemas that are at once the types registry.ts exports (Static<typeof
// ...>) and the CRD's OpenAPI schema, with its descriptions (what `kubectl explain` shows), defaults and validation,
// and the rest of the CRD (names, printer columns). `npm run generate` renders crds/regop.dev_registries.yaml and
// the chart's template from it (../crds.ts). Only the generator and tests load this module: the operator imports
// the types alone, so TypeBox stays out of its memory.
import type { V1Condition, V1NetworkPolicyPeer, V1ResourceRequirements } from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import {
  BUCKET_PATTERN, ConditionsSchema, QUANTITY_PATTERN, S3_ENDPOINT_PATTERN, StringEnum, StringMap, Typed,
  type CustomResourceSource,
} from '../schema.ts';
import { jobRunSummaryProperties } from './job-run.schema.ts';
import { GROUP, REGISTRY_KIND, REGISTRY_PLURAL, VERSION } from './registry.ts';

/** one key of a ConfigMap or Secret in the Registry's namespace, `key` defaulting to `defaultKey` */
function keyRef(description: string, defaultKey: string) {
  return Type.Object({
    name: Type.String({ minLength: 1, description: 'The object\'s name, in the Registry\'s namespace.' }),
    key: Type.Optional(Type.String({ default: defaultKey, description: `The key holding the value (default ${defaultKey}).` })),
  }, { description });
}

// --- spec.auth

export const RegistryActionSchema = StringEnum(['pull', 'push', 'delete']);

export const AccessRuleSchema = Type.Object({
  repositories: Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description: 'Repository globs: `*` matches within one path component, `**` at any depth (team/**).',
  }),
  actions: Type.Array(RegistryActionSchema, { minItems: 1, description: 'What the user may do there: pull, push, delete.' }),
});

export const SecretKeyRefSchema = keyRef(
  'An existing Secret holding the user\'s password; without it the operator generates one into the Secret '
    + '<registry>-user-<name> (edit that Secret to change it).',
  'password',
);

export const RegistryUserSchema = Type.Object({
  name: Type.String({
    pattern: '^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9])?$',
    description: 'The user name clients log in with: lower case, unique in the Registry.',
  }),
  passwordSecretRef: Type.Optional(SecretKeyRefSchema),
  access: Type.Optional(Type.Array(AccessRuleSchema, {
    maxItems: 50,
    description: 'What the user may do, per repository glob; a user is allowed what any rule allows. Unset: everything.',
  })),
});

// --- spec.mirrors

export const KeyRefSchema = keyRef('One key of a ConfigMap or Secret in the Registry\'s namespace.', 'ca.crt');

/** A pull-through mirror of another registry, served under a repository prefix (mirrors.ts). */
export const RegistryMirrorSchema = Type.Object({
  registry: Type.String({
    maxLength: 253,
    pattern: '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$',
    description: 'The registry host image references name, as nodes pull it: docker.io, ghcr.io, '
      + 'registry.example.com:5000. Listed at most once.',
  }),
  upstream: Type.String({
    pattern: '^https://[^/?#@]+/?$',
    description: 'The upstream registry API, https://host[:port] (Docker Hub: https://registry-1.docker.io). Nodes fall '
      + 'back to it directly when this registry cannot be reached.',
  }),
  credentialsSecretRef: Type.Optional(Type.Object({
    name: Type.String({ minLength: 1, description: 'The Secret\'s name.' }),
  }, {
    description: 'A Secret in this namespace with the keys username and password (kubernetes.io/basic-auth) for the '
      + 'upstream; without it the upstream is asked anonymously.',
  })),
  tagTTL: Type.Optional(Type.String({
    default: '5m',
    pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$',
    description: 'How long a cached tag is served before one HEAD request asks the upstream whether it moved (a '
      + 'duration, default 5m). Manifests pulled by digest are never revalidated.',
  })),
  maxSize: Type.Optional(Type.String({
    pattern: QUANTITY_PATTERN,
    description: 'The most this mirror\'s cached content may take (a quantity: 10Gi); past it the least recently pulled '
      + 'content is evicted. Unset: no limit.',
  })),
  ca: Type.Optional(Type.Object({
    configMapKeyRef: Type.Optional(keyRef('A ConfigMap key holding the CA certificate (PEM).', 'ca.crt')),
    secretKeyRef: Type.Optional(keyRef('A Secret key holding the CA certificate (PEM).', 'ca.crt')),
  }, {
    description: 'An extra CA certificate (PEM) to trust for the upstream, from exactly one ConfigMap or Secret key in '
      + 'this namespace. Nodes trust it too for the direct fallback.',
    'x-kubernetes-validations': [
      { rule: 'has(self.configMapKeyRef) != has(self.secretKeyRef)', message: 'ca needs exactly one of configMapKeyRef and secretKeyRef' },
    ],
  })),
});

// --- spec.storage and spec.backup

/** what a bucket is, for storage.s3 and backup.destination.s3 */
const s3Properties = {
  bucket: Type.String({ pattern: BUCKET_PATTERN, description: 'An existing bucket; the registry creates no bucket.' }),
  endpoint: Type.Optional(Type.String({
    pattern: S3_ENDPOINT_PATTERN,
    description: 'http(s)://host[:port] of the S3-compatible server; unset, AWS\'s endpoint for the region.',
  })),
  region: Type.Optional(Type.String({ minLength: 1, description: 'The bucket\'s region (default us-east-1).' })),
  prefix: Type.Optional(Type.String({
    maxLength: 512,
    description: 'A key prefix inside the bucket (registries/team-a), so several registries share one bucket.',
  })),
  forcePathStyle: Type.Optional(Type.Boolean({
    description: 'Address the bucket in the path (http://host/bucket/key) rather than in the host name; default true '
      + 'with an endpoint (most S3-compatible servers want it), false without.',
  })),
  credentialsSecretRef: Type.Object({
    name: Type.String({ minLength: 1, description: 'The Secret\'s name.' }),
    accessKeyIdKey: Type.Optional(Type.String({ default: 'accessKeyId', description: 'The Secret\'s key holding the access key id.' })),
    secretAccessKeyKey: Type.Optional(Type.String({
      default: 'secretAccessKey', description: 'The Secret\'s key holding the secret access key.',
    })),
  }, {
    description: 'A Secret in this namespace with the access key id and the secret access key. The registry pods read '
      + 'them as files (never from the environment); a change rolls the pods one at a time.',
  }),
};

/** An S3-compatible bucket instead of a volume: any number of stateless replicas share it. */
export const RegistryS3StorageSchema = Type.Object({
  ...s3Properties,
  redirect: Type.Optional(Type.Boolean({
    default: false,
    description: 'Blob downloads answer with a redirect to a presigned URL of the object, so the bytes flow from the '
      + 'bucket to the client; clients must then reach the endpoint themselves.',
  })),
}, {
  description: 'Store in an S3-compatible bucket (AWS S3, Ceph RGW, SeaweedFS, MinIO, versitygw) instead of a volume; '
    + 'none of the volume fields may be set with it. The server must offer strong read-after-write and '
    + 'list-after-write consistency. A pod that cannot reach the bucket is not ready, and the Registry is Degraded '
    + 'with the S3 error.',
});

export const RegistryStorageSchema = Type.Object({
  size: Type.Optional(Type.String({ pattern: QUANTITY_PATTERN, description: 'Size of the claim the operator creates (default 10Gi).' })),
  storageClassName: Type.Optional(Type.String({
    description: 'StorageClass of the claim the operator creates; unset, the cluster\'s default.',
  })),
  existingClaim: Type.Optional(Type.String({ description: 'Use this PersistentVolumeClaim instead of creating one.' })),
  accessMode: Type.Optional(StringEnum(['ReadWriteOnce', 'ReadWriteMany'], {
    description: 'Access mode of the claim (default ReadWriteOnce: one pod, replaced by Recreate). ReadWriteMany lets '
      + 'several replicas share the volume and pods roll without a gap.',
  })),
  reclaimPolicy: Type.Optional(StringEnum(['Retain', 'Delete'], {
    description: 'Whether the operator-created claim (and its data) outlives the Registry: Retain (the default) keeps '
      + 'it, Delete deletes it with the Registry.',
  })),
  s3: Type.Optional(RegistryS3StorageSchema),
}, {
  default: {},
  description: 'Where the registry stores images: a PersistentVolumeClaim (the default), or an S3-compatible bucket '
    + '(s3), which any number of stateless replicas share.',
  'x-kubernetes-validations': [
    {
      rule: '!has(self.existingClaim) || !has(self.storageClassName)',
      message: 'storageClassName applies only to a claim the operator creates, not to existingClaim',
    },
    {
      rule: '!has(self.s3) || !(has(self.size) || has(self.storageClassName) || has(self.existingClaim) || has(self.accessMode) || has(self.reclaimPolicy))',
      message: 'storage.s3 stores in a bucket: size, storageClassName, existingClaim, accessMode and reclaimPolicy configure a volume and cannot be set with it',
    },
  ],
});

/** a HorizontalPodAutoscaler owns the replica count: spec.replicas is then ignored */
export const RegistryAutoscalingSchema = Type.Object({
  minReplicas: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'The fewest registry pods the autoscaler keeps.' })),
  maxReplicas: Type.Integer({ minimum: 1, maximum: 100, description: 'The most registry pods the autoscaler starts.' }),
  targetCPUUtilizationPercentage: Type.Optional(Type.Integer({
    minimum: 1, maximum: 100, default: 80,
    description: 'The average CPU use, in percent of the pods\' CPU request, the autoscaler aims at.',
  })),
}, {
  description: 'A HorizontalPodAutoscaler scales the registry pods on CPU between minReplicas and maxReplicas '
    + '(spec.replicas is then ignored). The pods request 250m CPU unless resources names a CPU request or limit. '
    + 'More than 1 replica needs shared storage, as replicas does.',
  'x-kubernetes-validations': [
    { rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas', message: 'autoscaling.minReplicas must not be above autoscaling.maxReplicas' },
  ],
});

/** Where a Registry's backups go: a claim mounted into the registry pods, or an S3-compatible bucket. */
export const RegistryBackupDestinationSchema = Type.Object({
  persistentVolumeClaim: Type.Optional(Type.Object({
    claimName: Type.String({ minLength: 1, description: 'The claim\'s name.' }),
  }, {
    description: 'An existing claim in the Registry\'s namespace, mounted into the registry pods at '
      + '/var/lib/regop-backup (with several replicas it must be ReadWriteMany).',
  })),
  s3: Type.Optional(Type.Object(s3Properties, {
    description: 'An existing S3-compatible bucket, written by the registry pods (the same fields as storage.s3).',
  })),
}, {
  description: 'Where backups go: exactly one of persistentVolumeClaim and s3.',
  'x-kubernetes-validations': [
    { rule: 'has(self.persistentVolumeClaim) != has(self.s3)', message: 'backup.destination needs exactly one of persistentVolumeClaim and s3' },
  ],
});

/** Scheduled backups through the registry's maintenance API (resources/backup.ts). */
export const RegistryBackupSchema = Type.Object({
  schedule: Type.String({ minLength: 1, description: 'When to back up: a cron schedule (five fields, "0 3 * * *"), in timeZone.' }),
  timeZone: Type.Optional(Type.String({ description: 'An IANA time zone for the schedule, e.g. Europe/Berlin (default UTC).' })),
  suspend: Type.Optional(Type.Boolean({ default: false, description: 'true stops scheduling backups; one started by hand still runs.' })),
  keep: Type.Optional(Type.Integer({
    minimum: 1, maximum: 1000,
    description: 'Snapshots kept; after each backup older ones are deleted, and the blobs no kept snapshot needs. '
      + 'Unset, every snapshot is kept.',
  })),
  destination: RegistryBackupDestinationSchema,
}, {
  description: 'Scheduled backups: a CronJob <registry>-backup asks the registry\'s maintenance API for a backup, which '
    + 'the registry takes while it serves (garbage collection waits; a push is wholly in the snapshot or wholly out). '
    + 'Blobs already in the destination are never copied again. `kubectl create job --from=cronjob/<registry>-backup` '
    + 'runs one now; status.lastBackup reports the newest.',
});

// --- spec.notifications

/** A webhook that receives the registry's audit events as CloudEvents (the registry's `notifications.endpoints`). */
export const RegistryWebhookSchema = Type.Object({
  name: Type.String({
    pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
    description: 'Names the endpoint in metrics (regop_registry_webhook_*) and logs, where the URL never appears. Unique.',
  }),
  url: Type.String({
    pattern: '^https?://',
    description: 'The http(s) URL events are POSTed to. Put no credentials in it (it is in the registry\'s config '
      + 'file): use headersFrom.',
  }),
  headers: Type.Optional(StringMap({ description: 'Header values sent with every event that are not secret.' })),
  headersFrom: Type.Optional(Type.Array(Type.Object({
    name: Type.String({ description: 'The header name (Authorization).' }),
    secretKeyRef: Type.Object({
      name: Type.String({ description: 'The Secret\'s name, in the Registry\'s namespace.' }),
      key: Type.String({ description: 'The Secret\'s key holding the header value.' }),
    }, { description: 'The Secret key holding the header value.' }),
  }), {
    maxItems: 10,
    description: 'Header values from Secrets in the Registry\'s namespace (a token: Authorization), mounted as files and '
      + 'read at each delivery, so a changed Secret needs no restart.',
  })),
  events: Type.Optional(Type.Array(Type.String(), {
    description: 'The actions sent (manifest.push, tag.update, manifest.delete, tag.delete, blob.delete, blob.mount, '
      + 'login, lockout, gc, retention, backup, restore); unset, all of them.',
  })),
  timeout: Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s|m)$', description: 'One delivery attempt at most (a duration, default 5s).' })),
  retries: Type.Optional(Type.Integer({
    minimum: 0, maximum: 10, description: 'Attempts after the first, with exponential backoff (default 3).',
  })),
  queueSize: Type.Optional(Type.Integer({
    minimum: 1, maximum: 100000,
    description: 'Events waiting for this endpoint at most (default 1000); past it new events are dropped and counted '
      + '(regop_registry_webhook_dropped_total), so a dead endpoint never grows the registry\'s memory and never '
      + 'slows a push.',
  })),
});

// --- spec.networkPolicy

function labelSelector(description: string) {
  return Type.Object({
    matchLabels: Type.Optional(StringMap({ description: 'Labels that must all be set to these values.' })),
    matchExpressions: Type.Optional(Type.Array(Type.Object({
      key: Type.String({ description: 'The label key.' }),
      operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'], {
        description: 'How the label relates to values: In, NotIn, Exists or DoesNotExist.',
      }),
      values: Type.Optional(Type.Array(Type.String(), {
        description: 'The values for In and NotIn (non-empty); empty for Exists and DoesNotExist.',
      })),
    }), { description: 'Label requirements that must all hold.' })),
  }, { description, 'x-kubernetes-map-type': 'atomic' });
}

/** networking.k8s.io/v1 NetworkPolicyPeer, typed as the client library has it */
function networkPolicyPeers(description: string) {
  return Typed<V1NetworkPolicyPeer[]>(Type.Array(Type.Object({
    namespaceSelector: Type.Optional(labelSelector('Namespaces whose pods are admitted ({} is every namespace).')),
    podSelector: Type.Optional(labelSelector(
      'Pods admitted (in the Registry\'s namespace, or in the namespaces namespaceSelector selects).',
    )),
    ipBlock: Type.Optional(Type.Object({
      cidr: Type.String({ description: 'An IPv4 or IPv6 CIDR: 10.0.0.0/8.' }),
      except: Type.Optional(Type.Array(Type.String(), { description: 'CIDRs within cidr that are not admitted.' })),
    }, { description: 'Addresses admitted.' })),
  }, {
    description: 'A NetworkPolicy peer (networking.k8s.io/v1 NetworkPolicyPeer).',
    'x-kubernetes-validations': [
      { rule: 'has(self.ipBlock) != (has(self.namespaceSelector) || has(self.podSelector))', message: 'a peer is either an ipBlock or namespaceSelector/podSelector' },
    ],
  }), { maxItems: 50, description }));
}

/** Who may reach the registry's pods, and where they may connect. Nodes and the operator's namespace are always admitted. */
export const RegistryNetworkPolicySchema = Type.Object({
  enabled: Type.Optional(Type.Boolean({
    default: true, description: 'false removes the NetworkPolicy; the registry pods then accept and send anything.',
  })),
  allowFrom: Type.Optional(networkPolicyPeers(
    'Peers admitted to the registry API (default: every pod in the cluster). Nodes, the operator\'s namespace and '
      + 'regop\'s Jobs are admitted as well.',
  )),
  metricsFrom: Type.Optional(networkPolicyPeers(
    'Peers admitted to the plain-HTTP metrics port besides the operator\'s namespace and the nodes (default: '
      + 'namespaces labelled regop.dev/monitoring=true).',
  )),
  restrictEgress: Type.Optional(Type.Boolean({
    default: true,
    description: 'true allows the registry pods to connect only to DNS (port 53) and to the ports of the mirrors\' '
      + 'upstreams, of the S3 endpoint and of the webhooks, on any address (a NetworkPolicy cannot name a host); '
      + 'false leaves egress open.',
  })),
}, {
  default: {},
  description: 'A NetworkPolicy around the registry pods (it needs a cluster whose network plugin enforces '
    + 'NetworkPolicies). Ingress: the registry API from allowFrom, the metrics port from metricsFrom and the '
    + 'operator\'s namespace; the nodes\' addresses (kubelet pulls, NodePort traffic), the operator\'s namespace and '
    + 'regop\'s Jobs in the Registry\'s namespace (retention, backup) are always admitted. Egress: DNS and the ports '
    + 'of the mirrors\' upstreams, of the S3 endpoint and of the webhooks.',
});

// --- spec

const sharedStorageRule = '(has(self.storage) && (has(self.storage.s3) || (has(self.storage.accessMode) && self.storage.accessMode == \'ReadWriteMany\')))';

export const RegistrySpecSchema = Type.Object({
  image: Type.Optional(Type.String({ description: 'Registry image; defaults to the operator\'s own image.' })),
  imagePullPolicy: Type.Optional(StringEnum(['Always', 'IfNotPresent', 'Never'], {
    description: 'When the registry pods pull the image: Always, IfNotPresent or Never (default: the operator\'s own '
      + 'pull policy).',
  })),
  replicas: Type.Optional(Type.Integer({
    minimum: 0, maximum: 10, default: 1,
    description: 'Registry pods. More than 1 needs storage they can share: storage.s3, or a ReadWriteMany volume. '
      + 'Several replicas get a PodDisruptionBudget (one pod evicted at a time), are spread over nodes and zones, and '
      + 'are rolled one extra pod at a time. Ignored with autoscaling.',
  })),
  autoscaling: Type.Optional(RegistryAutoscalingSchema),
  storage: Type.Optional(RegistryStorageSchema),
  auth: Type.Optional(Type.Object({
    anonymousPull: Type.Optional(Type.Boolean({ default: false, description: 'true lets clients pull without credentials.' })),
    users: Type.Optional(Type.Array(RegistryUserSchema, {
      maxItems: 100,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'The users who may log in (htpasswd, bcrypt). A change reaches the running pods without a restart.',
    })),
  }, { default: {}, description: 'Who may use the registry: its users and their per-repository access.' })),
  tls: Type.Optional(Type.Object({
    mode: Type.Optional(StringEnum(['SelfSigned', 'Secret', 'CertManager', 'Disabled'], {
      default: 'SelfSigned',
      description: 'Where the serving certificate comes from. SelfSigned (the default): a CA per Registry (Secret '
        + '<registry>-ca-key, public certificate in <registry>-ca) signs a 90-day certificate, renewed when a third '
        + 'of its life is left. Secret: your kubernetes.io/tls Secret secretName. CertManager: a cert-manager '
        + 'Certificate from issuerRef. Disabled: plain HTTP.',
    })),
    secretName: Type.Optional(Type.String({ description: 'An existing kubernetes.io/tls Secret (mode Secret).' })),
    issuerRef: Type.Optional(Type.Object({
      name: Type.String({ description: 'The issuer\'s name.' }),
      kind: Type.Optional(Type.String({ default: 'Issuer', description: 'Issuer (in the Registry\'s namespace, the default) or ClusterIssuer.' })),
      group: Type.Optional(Type.String({ default: 'cert-manager.io', description: 'The issuer\'s API group (default cert-manager.io).' })),
    }, { description: 'The cert-manager issuer that signs the certificate (mode CertManager).' })),
    dnsNames: Type.Optional(Type.Array(Type.String(), {
      description: 'Extra names for the serving certificate (it always holds the Service\'s names, localhost and 127.0.0.1).',
    })),
  }, {
    default: {},
    description: 'TLS of the registry API.',
    'x-kubernetes-validations': [
      { rule: '!has(self.mode) || self.mode != \'Secret\' || has(self.secretName)', message: 'tls.mode Secret needs tls.secretName' },
      { rule: '!has(self.mode) || self.mode != \'CertManager\' || has(self.issuerRef)', message: 'tls.mode CertManager needs tls.issuerRef' },
    ],
  })),
  service: Type.Optional(Type.Object({
    type: Type.Optional(StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer'], {
      default: 'ClusterIP', description: 'The Service type: ClusterIP (the default), NodePort or LoadBalancer.',
    })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443, description: 'The Service port of the registry API (default 443).' })),
    nodePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The node port (type NodePort); unset, Kubernetes picks one.' })),
  }, {
    default: {},
    description: 'The registry\'s Service <registry> (it also exposes the plain-HTTP metrics port 5001).',
    'x-kubernetes-validations': [
      { rule: '!has(self.nodePort) || (has(self.type) && self.type == \'NodePort\')', message: 'service.nodePort needs service.type NodePort' },
    ],
  })),
  ingress: Type.Optional(Type.Object({
    host: Type.String({ minLength: 1, description: 'The host name the Ingress serves the registry under.' }),
    className: Type.Optional(Type.String({ description: 'The IngressClass; unset, the cluster\'s default.' })),
  }, { description: 'An Ingress <registry> in front of the Service (TLS passes through to the registry; nginx\'s body size limit is lifted).' })),
  resources: Type.Optional(Typed<V1ResourceRequirements>({
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    description: 'The registry container\'s resources (requests and limits, as a container\'s).',
  })),
  pullSecret: Type.Optional(Type.Object({
    namespaces: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }), {
      maxItems: 100,
      description: 'Namespaces that get a kubernetes.io/dockerconfigjson Secret <registry>-pull for a pull-only user '
        + 'and the CA as ConfigMap <registry>-ca; removed again when the namespace leaves the list or the Registry goes.',
    })),
  }, { description: 'Image pull credentials for other namespaces.' })),
  nodeAccess: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false removes the agent\'s files for this registry from every node.' })),
  }, {
    description: 'With the chart\'s node agent installed, every node\'s containerd pulls images named '
      + '<name>.<namespace>.svc/... from this registry through its Service\'s ClusterIP, verifying TLS against its CA '
      + '(hosts.toml in containerd\'s certs.d). status.nodesConfigured and the NodeAccess condition show how many '
      + 'nodes do.',
  })),
  backup: Type.Optional(RegistryBackupSchema),
  audit: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false writes no audit lines (webhooks still get their events).' })),
  }, {
    description: 'The audit trail: one JSON line per push, tag change, delete, mount, failed login, lockout and '
      + 'maintenance run (time, user, client address, action, repository, tag, digest, result, request id), on the '
      + 'registry pods\' stdout marked "logger":"audit", never with a secret.',
  })),
  notifications: Type.Optional(Type.Object({
    endpoints: Type.Optional(Type.Array(RegistryWebhookSchema, {
      maxItems: 20,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      description: 'The webhooks, each with its own bounded queue.',
    })),
  }, { description: 'Webhooks that receive the audit events as CloudEvents 1.0 (structured JSON).' })),
  networkPolicy: Type.Optional(RegistryNetworkPolicySchema),
  ui: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'false serves no UI (/ui/ answers 404); status.uiUrl is then absent.' })),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 80, description: 'Shown in the UI\'s header and page titles (default regop).' })),
  }, {
    description: 'The web UI the registry serves under /ui/ on its own port (and through the Ingress): browse '
      + 'repositories, tags and images, see what takes the space, delete what a user may delete. Users log in with '
      + 'the registry\'s own users and see exactly what their access allows.',
  })),
  mirrors: Type.Optional(Type.Array(RegistryMirrorSchema, {
    maxItems: 20,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['registry'],
    description: 'Pull-through mirrors: this registry serves another registry\'s images under the repository prefix '
      + '<registry> (\':\' written as \'-\'), fetching what is asked for from the upstream once and serving it from its '
      + 'store afterwards. With the node agent, every node\'s containerd pulls <registry>/... through this registry '
      + 'first and from the upstream directly when this registry does not answer. Pushes and deletes under a '
      + 'mirror\'s prefix are refused.',
  })),
}, {
  description: 'The registry the operator runs.',
  'x-kubernetes-validations': [
    {
      rule: `!has(self.replicas) || self.replicas <= 1 || ${sharedStorageRule}`,
      message: 'replicas > 1 needs storage.accessMode ReadWriteMany or storage.s3: replicas share the storage',
    },
    {
      rule: `!has(self.autoscaling) || self.autoscaling.maxReplicas <= 1 || ${sharedStorageRule}`,
      message: 'autoscaling.maxReplicas > 1 needs storage.accessMode ReadWriteMany or storage.s3: replicas share the storage',
    },
  ],
});

// --- status

/** What the last backup Job did, from its summary. */
export const BackupRunStatusSchema = Type.Object({
  ...jobRunSummaryProperties,
  snapshot: Type.Optional(Type.String({ description: 'The snapshot id (a UTC time).' })),
  images: Type.Optional(Type.Integer({ description: 'Manifests in the snapshot.' })),
  tags: Type.Optional(Type.Integer({ description: 'Tags in the snapshot.' })),
  blobsCopied: Type.Optional(Type.Integer({ description: 'Blobs written to the destination by this run.' })),
  bytesCopied: Type.Optional(Type.Integer({ format: 'int64', description: 'Bytes written to the destination by this run.' })),
  bytesSkipped: Type.Optional(Type.Integer({ format: 'int64', description: 'Bytes already in the destination, not copied again.' })),
}, { description: 'The newest backup Job, and once it finished what its summary says.' });

export const MirrorStatusSchema = Type.Object({
  registry: Type.String({ description: 'The mirrored host.' }),
  prefix: Type.String({ description: 'The repository prefix it is served under in this registry.' }),
  cachedBytes: Type.Optional(Type.String({ description: 'What it holds in the store (a quantity).' })),
  hitRatio: Type.Optional(Type.String({
    description: 'Requests answered from the store, of all requests for this mirror, since the registry pods started '
      + '("0.93"); absent until the first request.',
  })),
});

export const RegistryStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64', description: 'The metadata.generation this status describes.' })),
  conditions: Type.Optional(Typed<V1Condition[]>(ConditionsSchema(
    'Ready, Progressing, Degraded (with a reason and message naming the problem) and NodeAccess.',
  ))),
  url: Type.Optional(Type.String({
    description: 'The registry\'s address: http(s)://<name>.<namespace>.svc[:port] in the cluster, or the Ingress host.',
  })),
  uiUrl: Type.Optional(Type.String({ description: 'The web UI\'s address (url + /ui/), absent when spec.ui.enabled is false.' })),
  caSecretName: Type.Optional(Type.String({ description: 'The Secret in this namespace whose ca.crt clients trust for the registry\'s certificate; absent without TLS.' })),
  readyReplicas: Type.Optional(Type.Integer({ description: 'Registry pods that are ready.' })),
  storageUsed: Type.Optional(Type.String({ description: 'What the registry\'s store holds (a quantity).' })),
  nodesConfigured: Type.Optional(Type.String({
    description: 'Nodes whose containerd pulls this registry through the node agent, of all nodes ("3/3").',
  })),
  mirrorsCached: Type.Optional(Type.String({ description: 'What all mirrors hold in this registry\'s store (a quantity, 1.5Gi).' })),
  mirrors: Type.Optional(Type.Array(MirrorStatusSchema, { description: 'Per mirror, from the registry\'s metrics.' })),
  lastBackup: Type.Optional(BackupRunStatusSchema),
}, { description: 'What the operator observed, written by it alone.' });

/** the CRD registries.regop.dev, rendered by crds.ts */
export const REGISTRY_CRD: CustomResourceSource = {
  group: GROUP,
  version: VERSION,
  scope: 'Namespaced',
  names: { kind: REGISTRY_KIND, listKind: 'RegistryList', plural: REGISTRY_PLURAL, singular: 'registry', shortNames: ['reg'], categories: ['regop'] },
  description: 'A private OCI registry with TLS and password auth, run by the regop operator.',
  spec: RegistrySpecSchema,
  status: RegistryStatusSchema,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'URL', type: 'string', jsonPath: '.status.url' },
    { name: 'Storage', type: 'string', jsonPath: '.status.storageUsed' },
    { name: 'Nodes', type: 'string', jsonPath: '.status.nodesConfigured' },
    { name: 'Mirrored', type: 'string', jsonPath: '.status.mirrorsCached' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
