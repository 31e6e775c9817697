// The OCI distribution-spec conformance suite (built by test/tools/install.sh), every API it knows, against our
// registry with TLS and auth on. Every spec must pass; the failing ones are printed with the registry's logs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { run } from './tools.ts';

const user = { name: 'conformance', password: 'conformance-password-1' };
let registry: RunningRegistry;

interface Outcome { name: string; status: 'passed' | 'failed' | 'skipped'; message: string }

/** Reads the suite's junit.xml: one <testcase> per spec, with <failure> or <skipped> inside when so. */
function parseJunit(xml: string): Outcome[] {
  const outcomes: Outcome[] = [];
  const cases = xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g);
  for (const match of cases) {
    const name = /name="([^"]*)"/.exec(match[1]!)?.[1] ?? '?';
    const body = match[3] ?? '';
    const failure = /<(failure|error)\b[^>]*?(?:message="([^"]*)")?[^>]*>([\s\S]*?)<\/\1>|<(failure|error)\b[^>]*\/>/.exec(body);
    const status = failure ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed';
    outcomes.push({ name, status, message: failure ? `${failure[2] ?? ''} ${failure[3] ?? ''}`.trim().slice(0, 2000) : '' });
  }
  return outcomes;
}

before(async () => {
  registry = await startRegistry({ tls: true, users: [user] });
});

after(async () => {
  await registry?.stop();
});

describe('OCI distribution-spec conformance', () => {
  it('passes every spec of the pull, push, content discovery and content management workflows', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'regop-conformance-'));
    const result = await run('oci-conformance', [], {
      cwd: reportDir,
      allowFailure: true,
      timeoutMs: 600_000,
      env: {
        OCI_VERSION: '1.1',
        OCI_REGISTRY: registry.host,
        OCI_TLS: 'enabled',
        SSL_CERT_FILE: registry.caFile!,
        OCI_REPO1: 'conformance/repo1',
        OCI_REPO2: 'conformance/repo2',
        OCI_USERNAME: user.name,
        OCI_PASSWORD: user.password,
        OCI_RESULTS_DIR: reportDir,
        // everything on, including the optional parts we implement: pull, push, tag listing, referrers,
        // tag/manifest/blob deletion (content management), upload cancel and digest headers
        OCI_API_PULL: 'true',
        OCI_API_PUSH: 'true',
        OCI_API_TAGS_LIST: 'true',
        OCI_API_REFERRER: 'true',
        OCI_API_TAGS_DELETE: 'true',
        OCI_API_MANIFESTS_DELETE: 'true',
        OCI_API_BLOBS_DELETE: 'true',
        OCI_API_BLOBS_UPLOAD_CANCEL: 'true',
        OCI_API_BLOBS_DIGEST_HEADER: 'true',
        OCI_API_MANIFESTS_DIGEST_HEADER: 'true',
        OCI_LOG: 'warn',
      },
    });
    let junit = '';
    try {
      junit = readFileSync(join(reportDir, 'junit.xml'), 'utf8');
    } catch {
      assert.fail(`the suite wrote no junit.xml (exit ${result.code})\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-2000)}`);
    }
    const outcomes = parseJunit(junit);
    const passed = outcomes.filter((o) => o.status === 'passed');
    const failed = outcomes.filter((o) => o.status === 'failed');
    const skipped = outcomes.filter((o) => o.status === 'skipped');
    console.log(`conformance: ${passed.length} passed, ${failed.length} failed, ${skipped.length} skipped`);
    // the per-API summary, e.g. "Blob anonymous mount: Skip" (we only mount from a named repository)
    const summary = readFileSync(join(reportDir, 'results.yaml'), 'utf8').split('\napis:\n')[1] ?? '';
    console.log(`conformance APIs:\n${summary.split('\n').filter((line) => /^  \S.*: \S/.test(line)).join('\n')}`);
    if (failed.length > 0) {
      const details = failed.map((o) => `- ${o.name}\n  ${o.message.replace(/\n/g, '\n  ')}`).join('\n');
      assert.fail(`${failed.length} conformance specs failed:\n${details}\n--- registry log (tail)\n${registry.logs().slice(-6000)}`);
    }
    assert.ok(passed.length >= 50, `only ${passed.length} specs ran: the suite did not exercise the registry`);
    assert.equal(result.code, 0, result.stdout.slice(-3000));
  });
});
