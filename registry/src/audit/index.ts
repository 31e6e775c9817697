// The audit trail's composition: the Auditor the services share, and its sinks as the config asks for them.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { RegistryConfig } from '../config.ts';
import type { RegistryMetrics } from '../ops/metrics.ts';
import { AuditLog } from './audit-log.ts';
import type { Auditor } from './auditor.ts';
import { Webhooks } from './webhooks.ts';

export { Auditor } from './auditor.ts';

/** the CloudEvents source when the config names none: this process's host (in Kubernetes, the pod) */
export function defaultEventSource(): string {
  return `/regop-registry/${hostname()}`;
}

/** Attaches the audit log (unless audit.enabled is false) and the webhooks (when endpoints are configured). */
export function startAuditSinks(auditor: Auditor, config: RegistryConfig, logger: Logger, metrics: RegistryMetrics): void {
  if (config.audit.enabled) {
    const service = (logger.bindings() as { service?: string }).service;
    const log = new AuditLog({ ...(config.audit.file ? { file: config.audit.file } : {}), ...(service ? { service } : {}) });
    auditor.attach({ write: (event) => log.write(event), close: () => log.close() });
  }
  const { endpoints } = config.notifications;
  if (endpoints.length > 0) {
    const webhooks = new Webhooks({
      endpoints,
      source: config.notifications.source ?? defaultEventSource(),
      counters: metrics,
      logger: logger.child({ component: 'webhooks' }),
    });
    metrics.trackWebhooks(webhooks.names, (name) => webhooks.queued(name));
    auditor.attach(webhooks);
  }
}
