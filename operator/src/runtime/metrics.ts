// The operator's Prometheus metrics, on a registry of their own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'regop_operator_reconcile_total',
    help: 'Reconciles by controller and result (success, requeue, error, terminal)',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly durations = new Histogram({
    name: 'regop_operator_reconcile_duration_seconds',
    help: 'Reconcile durations by controller',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'regop_operator_workqueue_depth',
    help: 'Keys waiting in a controller work queue',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'regop_operator_informer_restarts_total',
    help: 'Watches restarted after an error or a silent period',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'regop_operator_leader',
    help: '1 while this replica holds the leader Lease',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
