// Composition of the registry process: storage, auth, the HTTP app, the ops listener and the housekeeping timers.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Authenticator } from './auth/index.ts';
import { Auditor, startAuditSinks } from './audit/index.ts';
import type { RegistryConfig } from './config.ts';
import { parseListen } from './config.ts';
import { BlobStore } from './content/blob-store.ts';
import { ManifestService } from './content/manifest-service.ts';
import { RepositoryStore } from './content/repository-store.ts';
import { UploadStore } from './content/upload-store.ts';
import type { Services } from './http/context.ts';
import { buildRegistryApp } from './http/app.ts';
import { registerAdminRoutes } from './http/admin.ts';
import { GarbageCollector } from './gc/collector.ts';
import { startMirrors } from './mirror/runtime.ts';
import { registerOpsRoutes } from './ops/health.ts';
import { RegistryMetrics } from './ops/metrics.ts';
import { describeStorage, openStorage } from './storage/open.ts';
import type { StorageDriver } from './storage/driver.ts';
import { StorageProbe } from './ops/storage-probe.ts';
import { RunHistory } from './ops/run-history.ts';
import { registerUi } from './ui/index.ts';
import { paths } from './content/paths.ts';
import { readTlsFiles, watchTlsFiles } from './tls/reloader.ts';

/** Pull times are kept in memory between flushes; retention reads them with minute precision at best. */
const PULL_FLUSH_INTERVAL_MS = 30_000;
const STORAGE_WALK_INTERVAL_MS = 10 * 60_000;

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  /** the API's address, e.g. https://127.0.0.1:5000 */
  url: string;
  close(): Promise<void>;
}

/** How long a presigned blob URL stays valid: a pull of a large layer on a slow link must be able to finish. */
const BLOB_REDIRECT_SECONDS = 20 * 60;
/** on shutdown, webhooks get this long to deliver what is queued (after in-flight requests finished) */
const WEBHOOK_DRAIN_MS = 5000;

export async function createServices(config: RegistryConfig, logger: Logger, storage?: StorageDriver): Promise<Services> {
  const driver = storage ?? await openStorage(config.storage);
  const blobs = new BlobStore(driver, { shared: config.storage.shared });
  const repositories = new RepositoryStore(driver, { shared: config.storage.shared });
  const uploads = new UploadStore(driver, blobs, { maxSessionsPerOwner: config.limits.maxUploadSessionsPerUser, shared: config.storage.shared });
  const manifests = new ManifestService(blobs, repositories, {
    cacheBytes: config.storage.manifestCacheBytes,
    maxBytes: config.storage.maxManifestBytes,
  });
  const metrics = new RegistryMetrics();
  // events go nowhere until startServer attaches the audit log and webhooks (an offline GC records none)
  const audit = new Auditor(logger.child({ component: 'audit' }));
  return {
    blobs,
    repositories,
    uploads,
    manifests,
    auth: await Authenticator.create({
      ...(config.auth.htpasswd ? { htpasswdFile: config.auth.htpasswd } : {}),
      ...(config.auth.access ? { accessFile: config.auth.access } : {}),
      anonymousPull: config.auth.anonymousPull,
      realm: config.auth.realm,
      maxFailures: config.auth.maxFailedLogins,
      windowMs: config.auth.failedLoginWindowMs,
      lockoutMs: config.auth.lockoutMs,
      reloadIntervalMs: config.auth.reloadIntervalMs,
      maxConcurrentPasswordChecks: config.auth.maxConcurrentPasswordChecks,
      maxQueuedPasswordChecks: config.auth.maxQueuedPasswordChecks,
      audit,
    }, logger.child({ component: 'auth' })),
    audit,
    metrics,
    mirrors: startMirrors(config.mirrors, { blobs, uploads, repositories, manifests, metrics }, logger),
    ...(config.storage.s3?.redirect && driver.redirectUrl
      ? { blobRedirect: (digest) => driver.redirectUrl!(paths.blob(digest), BLOB_REDIRECT_SECONDS) }
      : {}),
  };
}

export async function startServer(config: RegistryConfig, logger: Logger): Promise<RunningServer> {
  const driver = await openStorage(config.storage);
  const services = await createServices(config, logger, driver);
  startAuditSinks(services.audit, config, logger, services.metrics);
  const storageProbe = new StorageProbe(driver, logger.child({ component: 'storage' }));
  const tls = config.tls ? readTlsFiles(config.tls) : undefined;
  const app = buildRegistryApp(services, {
    logger,
    ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    trustedProxies: config.auth.trustedProxies,
    limits: { maxConnections: config.limits.maxConnections, idleTimeoutMs: config.limits.idleTimeoutMs },
  });
  const collector = new GarbageCollector(services.blobs, services.repositories, services.uploads);
  services.metrics.trackStorage(() => services.blobs.bytesStored);
  services.metrics.trackAuthReloads(() => services.auth.staleFiles().map((stale) => stale.file));
  const measure = () => services.blobs.measureStoredBytes()
    .catch((error: unknown) => logger.error({ err: error }, 'measuring the store failed'));
  void measure();
  // writes by other replicas sharing the volume are only seen by a walk
  const measureTimer = setInterval(() => void measure(), STORAGE_WALK_INTERVAL_MS);
  measureTimer.unref();
  const runs = new RunHistory(driver);
  if (config.admin.tokenFile) {
    registerAdminRoutes(app, services, collector, {
      tokenFile: config.admin.tokenFile,
      defaultGracePeriodMs: config.admin.gcGracePeriodMs,
      uploadMaxAgeMs: config.storage.uploadPurgeAgeMs,
      runs,
      driver,
    });
  }
  if (config.ui.enabled) await registerUi(app, services, { title: config.ui.title, storage: driver, runs, logger });
  let accepting = false;
  const opsState = {
    ready: () => accepting,
    failing: () => (storageProbe.problem ? [storageProbe.problem] : []),
    degraded: () => services.auth.staleReport(),
  };
  let opsApp: FastifyInstance | undefined;
  if (config.ops.listen) {
    opsApp = Fastify({ loggerInstance: logger.child({ component: 'ops' }), logController: new LogController({ disableRequestLogging: true }) }) as unknown as FastifyInstance;
    registerOpsRoutes(opsApp, services.metrics, opsState);
  } else {
    registerOpsRoutes(app, services.metrics, opsState);
  }

  const stopTlsWatch = config.tls && tls
    ? watchTlsFiles(config.tls, app.server as unknown as import('node:tls').Server, config.tls.reloadIntervalMs, tls.fingerprint, logger)
    : () => undefined;
  const purgeTimer = setInterval(() => {
    services.uploads.purgeStale(config.storage.uploadPurgeAgeMs)
      .then((purged) => purged > 0 && logger.info({ purged }, 'purged stale upload sessions'))
      .catch((error: unknown) => logger.error({ err: error }, 'purging upload sessions failed'));
  }, config.storage.uploadPurgeIntervalMs);
  purgeTimer.unref();
  const flushTimer = setInterval(() => {
    services.repositories.flushPulls().catch((error: unknown) => logger.error({ err: error }, 'flushing pull times failed'));
  }, PULL_FLUSH_INTERVAL_MS);
  flushTimer.unref();

  // checked before the first request, so a pod that cannot reach its bucket never becomes ready
  await storageProbe.start();
  const { host, port } = parseListen(config.listen);
  await app.listen({ host, port });
  if (opsApp && config.ops.listen) {
    const ops = parseListen(config.ops.listen);
    await opsApp.listen({ host: ops.host, port: ops.port });
  }
  accepting = true;
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  logger.info({ url, storage: describeStorage(config.storage), auth: services.auth.enabled, tls: !!tls }, 'registry listening');

  return {
    app,
    services,
    url,
    async close() {
      accepting = false;
      clearInterval(purgeTimer);
      clearInterval(flushTimer);
      clearInterval(measureTimer);
      storageProbe.stop();
      stopTlsWatch();
      // in-flight uploads finish; idle keep-alive sockets are closed; past the timeout the rest is cut
      const timeout = setTimeout(() => {
        logger.warn('shutdown timeout reached, closing remaining connections');
        app.server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      timeout.unref();
      await app.close();
      clearTimeout(timeout);
      await opsApp?.close();
      await services.mirrors.close();
      await services.repositories.flushPulls();
      await services.audit.close(WEBHOOK_DRAIN_MS);
      services.auth.close();
    },
  };
}
