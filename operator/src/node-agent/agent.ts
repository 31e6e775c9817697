// The node agent's reconcile of one Registry on this node: plan (hosts-config.ts), ask the address itself
// (probe.ts), write or remove (hosts-directory.ts), and remember the outcome for the node's report. Reads only
// the informer caches it is given; runs under operator/src/runtime's Controller (one key at a time).
import type { V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { CA_FILE, planNodeAccess, type MirrorPlan } from './hosts-config.ts';
import { ForeignFilesError, type HostsDirectory } from './hosts-directory.ts';
import type { ProbeResult } from './probe.ts';
import type { MirrorOnNode, NodeReport, RegistryOnNode, Verdict } from './report.ts';

/**
 * After a CA rotation the node trusts the old CA too for this long: a registry pod sees its renewed Secret
 * only when the kubelet syncs the volume (about a minute), and until then it serves the old certificate.
 */
export const PREVIOUS_CA_GRACE_MS = 10 * 60_000;
const PROBE_RETRY_MS = 5_000;
const WRITE_RETRY_MS = 30_000;

export interface AgentDependencies {
  node: string;
  /** containerd's hosts directory as the node sees it */
  certsDir: string;
  directory: HostsDirectory;
  registry(namespace: string, name: string): Registry | undefined;
  service(namespace: string, name: string): V1Service | undefined;
  ca(namespace: string, name: string): { pem?: string; upstreamCas?: Record<string, string> } | undefined;
  /** the nodes' pull-only credentials for the Registry's mirrors, once the operator has published them */
  nodeCredentials(namespace: string, name: string): { username: string; password: string } | undefined;
  /** whether the caches hold the cluster's state (before that, a missing Registry is not a deleted one) */
  synced(): boolean;
  /**
   * Asks the API server whether a Registry missing from the cache is really gone: client-node's informer
   * reports "connected" before its first list has filled the cache, so absence there proves nothing.
   */
  confirmGone(namespace: string, name: string): Promise<boolean>;
  probe(server: string, caPem: string | undefined): Promise<ProbeResult>;
  /** the report changed: publish it */
  reportChanged(): void;
  logger: Logger;
  now?: () => number;
}

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => b.replace(/\r/g, '')) ?? [];
}

/** the new CA first, then the certificates of the one written before that are not in it */
export function withPreviousCa(next: string, previous: string | undefined): string {
  const kept = pemBlocks(next);
  for (const block of pemBlocks(previous ?? '')) if (!kept.includes(block)) kept.push(block);
  return `${kept.join('\n')}\n`;
}

export class NodeAgent {
  private readonly deps: AgentDependencies;
  private readonly now: () => number;
  /** hosts written, by owner; loaded from the directory at start, so files outlive an agent restart */
  private owned = new Map<string, Set<string>>();
  private readonly previousCaUntil = new Map<string, number>();
  private readonly entries = new Map<string, RegistryOnNode>();
  private runtime: Verdict = { ok: false, reason: 'NotChecked', message: 'not checked yet' };
  private directoryVerdict: Verdict = { ok: false, reason: 'NotChecked', message: 'not checked yet' };

  constructor(deps: AgentDependencies) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** owners with files on disk: the keys to reconcile at start, so deletions missed while down are cleaned */
  async load(): Promise<string[]> {
    const owned = await this.deps.directory.owned();
    this.owned = new Map([...owned].map(([owner, hosts]) => [owner, new Set(hosts)]));
    return [...owned.keys()];
  }

  ownedKeys(): string[] {
    return [...this.owned.keys()];
  }

  setChecks(runtime: Verdict, directory: Verdict): void {
    const changed = JSON.stringify([runtime, directory]) !== JSON.stringify([this.runtime, this.directoryVerdict]);
    this.runtime = runtime;
    this.directoryVerdict = directory;
    if (changed) this.deps.reportChanged();
  }

  report(): NodeReport {
    return {
      node: this.deps.node,
      runtime: this.runtime,
      directory: this.directoryVerdict,
      registries: Object.fromEntries([...this.entries].sort(([a], [b]) => a.localeCompare(b))),
    };
  }

  private record(key: string, entry: RegistryOnNode | undefined): void {
    const before = JSON.stringify(this.entries.get(key));
    if (entry) this.entries.set(key, entry);
    else this.entries.delete(key);
    if (JSON.stringify(entry) !== before) this.deps.reportChanged();
  }

  private async removeAll(key: string, except = new Set<string>()): Promise<void> {
    const hosts = this.owned.get(key) ?? new Set<string>();
    for (const host of [...hosts]) {
      if (except.has(host)) continue;
      if (await this.deps.directory.remove(key, host)) this.deps.logger.info({ registry: key, host }, 'removed hosts.toml');
      hosts.delete(host);
    }
    if (hosts.size === 0) this.owned.delete(key);
  }

  async reconcile(key: string): Promise<void | { requeueAfterMs: number }> {
    if (!this.deps.synced()) return { requeueAfterMs: 1_000 };
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const registry = this.deps.registry(namespace, name);
    if (!registry) {
      if (!this.owned.has(key) && !this.entries.has(key)) return;
      if (!await this.deps.confirmGone(namespace, name)) return { requeueAfterMs: 1_000 };
      await this.removeAll(key);
      this.previousCaUntil.delete(key);
      this.record(key, undefined);
      return;
    }
    const plan = planNodeAccess({
      registry, service: this.deps.service(namespace, name), ca: this.deps.ca(namespace, name), certsDir: this.deps.certsDir,
      nodeCredentials: this.deps.nodeCredentials(namespace, name),
    });
    if (plan.action === 'remove') {
      await this.removeAll(key);
      this.record(key, undefined);
      return;
    }
    const written = this.owned.get(key);
    if (plan.action === 'wait') {
      this.record(key, { configured: (written?.size ?? 0) > 0, reason: plan.reason, message: plan.message });
      return;
    }

    const files = { ...plan.files };
    let requeueAfterMs: number | undefined;
    const newCa = files[CA_FILE];
    const currentCa = newCa ? await this.deps.directory.readOwn(key, plan.host, CA_FILE) : undefined;
    if (newCa && currentCa && pemBlocks(currentCa).join() !== pemBlocks(newCa).join()) {
      const until = this.previousCaUntil.get(key) ?? this.now() + PREVIOUS_CA_GRACE_MS;
      this.previousCaUntil.set(key, until);
      if (this.now() < until) {
        files[CA_FILE] = withPreviousCa(newCa, currentCa);
        requeueAfterMs = until - this.now();
      } else {
        this.previousCaUntil.delete(key);
      }
    } else if (newCa && currentCa) {
      this.previousCaUntil.delete(key);
    }

    const probe = await this.deps.probe(plan.server, files[CA_FILE]);
    if (!probe.ok) {
      this.record(key, { configured: written?.has(plan.host) ?? false, reason: probe.reason, message: probe.message, host: plan.host, server: plan.server });
      return { requeueAfterMs: PROBE_RETRY_MS };
    }
    try {
      const changed = await this.deps.directory.write(key, plan.host, files);
      if (changed) this.deps.logger.info({ registry: key, host: plan.host, server: plan.server }, 'wrote hosts.toml');
    } catch (error) {
      const foreign = error instanceof ForeignFilesError;
      this.record(key, {
        configured: false,
        reason: foreign ? error.reason : 'DirectoryNotWritable',
        message: foreign ? error.message : `cannot write ${plan.host}/: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        host: plan.host,
      });
      return { requeueAfterMs: WRITE_RETRY_MS };
    }
    if (!this.owned.has(key)) this.owned.set(key, new Set());
    this.owned.get(key)!.add(plan.host);
    const mirrors = await this.writeMirrors(key, plan.mirrors, files[CA_FILE]);
    // a changed port moves the host directory, a mirror dropped from the spec leaves: the old ones go
    await this.removeAll(key, new Set([plan.host, ...plan.mirrors.map((m) => m.host)]));
    this.record(key, {
      configured: true,
      reason: plan.plainHttp ? 'ConfiguredPlainHTTP' : 'Configured',
      message: `pulls of ${plan.host} go to ${plan.server}${plan.plainHttp ? ' over plain HTTP' : ''}`,
      host: plan.host,
      server: plan.server,
      ...(plan.mirrors.length > 0 ? { mirrors } : {}),
    });
    if (Object.values(mirrors).some((m) => !m.configured)) return { requeueAfterMs: Math.min(requeueAfterMs ?? Infinity, WRITE_RETRY_MS) };
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /**
   * Each mirrored host's files, with the Registry CA as just written for its own host (old and new during a
   * rotation). A mirror that cannot be written (an admin's hosts.toml for docker.io is there) is reported, and
   * never fails the Registry's own host.
   */
  private async writeMirrors(key: string, plans: MirrorPlan[], caPem: string | undefined): Promise<Record<string, MirrorOnNode>> {
    const outcome: Record<string, MirrorOnNode> = {};
    for (const mirror of plans) {
      if (!('files' in mirror)) {
        outcome[mirror.host] = { configured: this.owned.get(key)?.has(mirror.host) ?? false, reason: mirror.reason, message: mirror.message };
        continue;
      }
      const files = { ...mirror.files, ...(caPem && mirror.files[CA_FILE] ? { [CA_FILE]: caPem } : {}) };
      try {
        if (await this.deps.directory.write(key, mirror.host, files)) this.deps.logger.info({ registry: key, host: mirror.host }, 'wrote mirror hosts.toml');
        this.owned.get(key)!.add(mirror.host);
        outcome[mirror.host] = { configured: true, reason: 'Configured', message: `pulls of ${mirror.host} try the mirror first` };
      } catch (error) {
        const foreign = error instanceof ForeignFilesError;
        outcome[mirror.host] = {
          configured: false,
          reason: foreign ? error.reason : 'DirectoryNotWritable',
          message: foreign ? error.message : `cannot write ${mirror.host}/: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        };
      }
    }
    return outcome;
  }
}
