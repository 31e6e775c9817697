// Unauthenticated operational endpoints: liveness, readiness and Prometheus metrics. They sit on their own
// plain-HTTP listener when one is configured, so kubelet probes need neither TLS nor credentials.
import type { FastifyInstance } from 'fastify';
import type { RegistryMetrics } from './metrics.ts';

export interface OpsState {
  /** false while starting up or shutting down */
  ready(): boolean;
  /**
   * why the registry cannot serve although it runs (its storage unreachable), one line each: /readyz then
   * answers 503 with them, so the pod leaves its Service and whoever asks learns why
   */
  failing?(): string[];
  /**
   * what is degraded but still served, one line each (e.g. an auth file that failed to load): shown in /readyz's
   * body without changing its status, so pods do not go unready over it
   */
  degraded?(): string[];
}

export function registerOpsRoutes(app: FastifyInstance, metrics: RegistryMetrics, state: OpsState): void {
  app.get('/healthz', async (_request, reply) => {
    return reply.type('text/plain').send('ok\n');
  });
  app.get('/readyz', async (_request, reply) => {
    const failing = state.failing?.() ?? [];
    const ready = state.ready() && failing.length === 0;
    const lines = [ready ? 'ready' : 'not ready', ...failing, ...(state.degraded?.() ?? [])];
    return reply.code(ready ? 200 : 503).type('text/plain').send(`${lines.join('\n')}\n`);
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
