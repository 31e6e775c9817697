// The command line's side of maintenance: run GC or retention either against a running server's admin API
// (the right way while it serves: the server coordinates with its own uploads) or offline on a storage
// directory no server is using.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { createServices } from './server.ts';
import { buildConfig } from './config.ts';
import { GarbageCollector } from './gc/collector.ts';
import { runRetention } from './retention/executor.ts';
import { validateRules } from './retention/policy.ts';

export interface ServerTarget {
  url: string;
  token: string;
  caPem?: string;
}

export function postJson(target: ServerTarget, path: string, body: unknown): Promise<unknown> {
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
