// Kubernetes Events (core/v1) for user-visible changes and errors. The same (object, type, reason, message)
// within ten minutes bumps the count of the existing Event instead of creating another, as client-go's
// recorder does. Recording never throws: an Event that cannot be written is logged and dropped. Callers must
// never put a secret in a message.
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventSink } from '../kube/event-sink.ts';

const AGGREGATION_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 1000;

interface Remembered {
  name: string;
  namespace: string;
  count: number;
  lastSeen: number;
}

export class EventRecorder implements EventSink {
  private readonly api: Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;
  private readonly component: string;
  private readonly logger: Logger;
  private readonly recent = new Map<string, Remembered>();

  constructor(api: Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>, component: string, logger: Logger) {
    this.api = api;
    this.component = component;
    this.logger = logger;
  }

  normal(object: KubernetesObject, reason: string, message: string): void {
    void this.record(object, 'Normal', reason, message);
  }

  warning(object: KubernetesObject, reason: string, message: string): void {
    void this.record(object, 'Warning', reason, message);
  }

  async record(object: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = object.metadata?.namespace ?? 'default';
    const key = [object.metadata?.uid, type, reason, message].join('\u0000');
    const now = new Date();
    const seen = this.recent.get(key);
    try {
      if (seen && now.getTime() - seen.lastSeen < AGGREGATION_WINDOW_MS) {
        seen.count++;
        seen.lastSeen = now.getTime();
        await this.api.patchNamespacedEvent(
          { name: seen.name, namespace: seen.namespace, body: { count: seen.count, lastTimestamp: now } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      }
      const created = await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${object.metadata?.name ?? 'object'}.`, namespace },
          involvedObject: {
            apiVersion: object.apiVersion, kind: object.kind, name: object.metadata?.name, namespace,
            uid: object.metadata?.uid, resourceVersion: object.metadata?.resourceVersion,
          },
          type, reason, message: message.slice(0, 1024),
          source: { component: this.component },
          firstTimestamp: now, lastTimestamp: now, count: 1,
          reportingComponent: this.component,
        },
      });
      if (this.recent.size >= MAX_REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(key, { name: created.metadata!.name!, namespace, count: 1, lastSeen: now.getTime() });
    } catch (error) {
      this.recent.delete(key);
      this.logger.warn({ reason, kind: object.kind, name: object.metadata?.name, error: (error as Error).message }, 'could not record an Event');
    }
  }
}
