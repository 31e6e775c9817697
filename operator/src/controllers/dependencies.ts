// What every reconciler of one kind is built from: the API port, the Event sink, the image the registries run
// unless their spec says otherwise, and a clock (injected, so status timestamps are testable).
import type { ClusterClient } from '../kube/cluster-client.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { EventSink } from '../kube/event-sink.ts';
import type { ReadinessAnswer } from '../status/pod-readiness.ts';
import type { NodeAgentView } from './node-access.ts';

export interface ControllerDependencies {
  client: ClusterClient;
  events: EventSink;
  /** the operator's own image */
  defaultImage: string;
  defaultImagePullPolicy?: string;
  now?: () => Date;
  /** a registry pod's Prometheus metrics text from its ops port; null when it cannot be asked */
  podMetrics?: (pod: { namespace: string; name: string; ip: string }) => Promise<string | null>;
  /** a registry pod's /readyz answer from its ops port; null when it cannot be asked */
  podReadiness?: (pod: { namespace: string; name: string; ip: string }) => Promise<ReadinessAnswer | null>;
  /** the node agents' reports and how many nodes they should run on; null when no agent is installed */
  nodeAgentView?: () => Promise<NodeAgentView | null>;
  /** where the node agent runs (the release namespace): it reads the nodes' mirror credentials there */
  nodeAgentNamespace?: string;
  /** where the operator runs: its namespace may reach every Registry's pods through their NetworkPolicy */
  operatorNamespace?: string;
}

export abstract class KindReconciler {
  protected readonly client: ClusterClient;
  protected readonly events: EventSink;
  protected readonly defaultImage: string;
  protected readonly defaultImagePullPolicy: string | undefined;
  protected readonly now: () => Date;
  protected readonly podMetrics: (pod: { namespace: string; name: string; ip: string }) => Promise<string | null>;
  protected readonly podReadiness: (pod: { namespace: string; name: string; ip: string }) => Promise<ReadinessAnswer | null>;
  protected readonly nodeAgentView: () => Promise<NodeAgentView | null>;
  protected readonly nodeAgentNamespace: string | undefined;
  protected readonly operatorNamespace: string;

  constructor(dependencies: ControllerDependencies) {
    this.client = dependencies.client;
    this.events = dependencies.events;
    this.defaultImage = dependencies.defaultImage;
    this.defaultImagePullPolicy = dependencies.defaultImagePullPolicy;
    this.now = dependencies.now ?? (() => new Date());
    this.podMetrics = dependencies.podMetrics ?? (async () => null);
    this.podReadiness = dependencies.podReadiness ?? (async () => null);
    this.nodeAgentView = dependencies.nodeAgentView ?? (async () => null);
    this.nodeAgentNamespace = dependencies.nodeAgentNamespace;
    this.operatorNamespace = dependencies.operatorNamespace ?? dependencies.nodeAgentNamespace ?? 'default';
  }

  abstract reconcile(key: string): Promise<ReconcileResult>;
}
