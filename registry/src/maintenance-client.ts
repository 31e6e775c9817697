// The command line's side of maintenance: run GC, retention or a backup either against a running server's admin
// API (the right way while it serves: the server coordinates with its own uploads) or offline on a storage no
// server is using; and restore a backup, offline, into a registry's storage.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { createServices } from './server.ts';
import { buildConfig, loadConfig, type RegistryConfig } from './config.ts';
import { runBackup } from './backup/backup.ts';
import { describeLocation, openLocation, type BackupLocation } from './backup/destination.ts';
import { runRestore } from './backup/restore.ts';
import { BlobStore } from './content/blob-store.ts';
import { RepositoryStore } from './content/repository-store.ts';
import { findMirror } from './mirror/names.ts';
import { backupRunSummary, failedBackupSummary, RunHistory } from './ops/run-history.ts';
import { openStorage } from './storage/open.ts';
import { GarbageCollector } from './gc/collector.ts';
import { runRetention } from './retention/executor.ts';
import { validateRules } from './retention/policy.ts';

export interface ServerTarget {
  url: string;
  token: string;
  caPem?: string;
}

/** errors of a connection that never opened: the request was not sent, so sending it again is safe */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const CONNECT_ATTEMPTS = 30;

/**
 * POSTs to the registry's admin API. A connection that is refused is tried again for up to half a minute: a Job's
 * pod may start before a network plugin enforcing NetworkPolicies admits its address (kube-router takes a moment),
 * or before the Service has a ready endpoint. Nothing else is retried: the request may have run.
 */
export async function postJson(target: ServerTarget, path: string, body: unknown): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await postJsonOnce(target, path, body);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (attempt >= CONNECT_ATTEMPTS || !code || !NOT_CONNECTED.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function postJsonOnce(target: ServerTarget, path: string, body: unknown): Promise<unknown> {
  const url = new URL(path, target.url);
  const payload = Buffer.from(JSON.stringify(body));
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${target.token}` },
      ...(target.caPem ? { ca: target.caPem } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 500)}`));
        else resolve(JSON.parse(text));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** a policy file holds the retention rules, as YAML or JSON */
export function readPolicy(file: string): unknown {
  return parseYaml(readFileSync(file, 'utf8'));
}

async function offlineServices(storage: string) {
  const logger = pino({ level: 'warn' });
  const config = buildConfig({}, { storage });
  const services = await createServices(config, logger);
  return { services, config };
}

export async function offlineGc(storage: string, gracePeriodMs: number, dryRun: boolean) {
  const { services, config } = await offlineServices(storage);
  try {
    return await new GarbageCollector(services.blobs, services.repositories, services.uploads)
      .collect({ gracePeriodMs, uploadMaxAgeMs: config.storage.uploadPurgeAgeMs, dryRun });
  } finally {
    services.auth.close();
  }
}

export async function offlineRetention(storage: string, rules: unknown, dryRun: boolean, gc?: { gracePeriodMs: number }) {
  const { services, config } = await offlineServices(storage);
  try {
    const retention = await runRetention(services.repositories, services.manifests, validateRules(rules), { dryRun });
    const report = gc
      ? await new GarbageCollector(services.blobs, services.repositories, services.uploads)
        .collect({ gracePeriodMs: gc.gracePeriodMs, uploadMaxAgeMs: config.storage.uploadPurgeAgeMs, dryRun })
      : undefined;
    return { ...retention, ...(report ? { gc: report } : {}) };
  } finally {
    services.auth.close();
  }
}

/** The registry's storage as its config file (or a directory) names it, without the rest of a server (auth files). */
export function offlineStorageConfig(configFile: string | undefined, storageDir: string | undefined): RegistryConfig {
  return configFile ? loadConfig(configFile, storageDir ? { storage: storageDir } : {}) : buildConfig({}, { storage: storageDir });
}

async function openOfflineStores(config: RegistryConfig) {
  const driver = await openStorage(config.storage);
  return {
    driver,
    blobs: new BlobStore(driver, { shared: config.storage.shared }),
    repositories: new RepositoryStore(driver, { shared: config.storage.shared }),
  };
}

/** A backup of a registry no server is using (or, on shared storage, with replicas serving: GC is held off). */
export async function offlineBackup(config: RegistryConfig, destination: BackupLocation, keep: number | undefined) {
  const stores = await openOfflineStores(config);
  const runs = new RunHistory(stores.driver);
  const destinationName = describeLocation(destination);
  const started = Date.now();
  try {
    const report = await runBackup({
      blobs: stores.blobs,
      repositories: stores.repositories,
      isMirror: (repository) => findMirror(config.mirrors, repository) !== null,
    }, await openLocation(destination), { destinationName, ...(keep !== undefined ? { keep } : {}) });
    await runs.record('backup', backupRunSummary(report, new Date()));
    return report;
  } catch (error) {
    await runs.record('backup', failedBackupSummary(destinationName, (error as Error).message, Date.now() - started, new Date()))
      .catch(() => undefined);
    throw error;
  }
}

export async function offlineRestore(config: RegistryConfig, source: BackupLocation, options: { snapshot?: string; force?: boolean }) {
  const stores = await openOfflineStores(config);
  return runRestore(await openLocation(source), stores, {
    sourceName: describeLocation(source),
    ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    ...(options.force ? { force: true } : {}),
  });
}
