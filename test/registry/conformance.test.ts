// The OCI distribution-spec conformance suite (built by test/tools/install.sh), every API it knows, against our
// registry with TLS and auth on, storing in a directory and on an S3 bucket (a real S3 server). Every spec must
// pass; the failing ones are printed with their messages and the registry's logs. A run that executed nothing (the
// suite exits 0 then) must not count as a pass.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { run, type RunResult } from './tools.ts';

const user = { name: 'conformance', password: 'conformance-password-1' };

interface Outcome { name: string; status: 'passed' | 'failed' | 'skipped'; message: string }
interface Summary { tests: number; failures: number; errors: number; skipped: number; outcomes: Outcome[] }

const unescapeXml = (text: string) => text
  .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
  .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
  .replace(/&#([0-9]+);/g, (_, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
  .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

const attribute = (attributes: string, name: string) => {
  const value = new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1];
  return value === undefined ? undefined : unescapeXml(value);
};

/**
 * Reads the suite's junit.xml. This suite marks a spec's outcome in the testcase's status attribute (passed,
 * skipped, failure, error) and puts the reason in <system-out>; <failure>, <error> and <skipped> children are
 * honoured too, as other junit writers use them.
 */
function parseJunit(xml: string): Summary {
  const outcomes: Outcome[] = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attributes = match[1]!;
    const body = match[3] ?? '';
    const status = attribute(attributes, 'status');
    const failure = /<(failure|error)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    const systemOut = /<system-out>([\s\S]*?)<\/system-out>/.exec(body)?.[1] ?? '';
    const failed = status === 'failure' || status === 'error' || !!failure;
    const skipped = !failed && (status === 'skipped' || /<skipped\b/.test(body));
    const message = failed
      ? [attribute(failure?.[2] ?? '', 'message'), unescapeXml(failure?.[3] ?? ''), unescapeXml(systemOut)]
        .filter((part) => part && part.trim()).join('\n').trim()
      : '';
    outcomes.push({ name: attribute(attributes, 'name') ?? '?', status: failed ? 'failed' : skipped ? 'skipped' : 'passed', message });
  }
  const suites = /<testsuites\b([^>]*)>/.exec(xml)?.[1] ?? /<testsuite\b([^>]*)>/.exec(xml)?.[1] ?? '';
  const count = (name: string) => Number(attribute(suites, name) ?? 0);
  return { tests: count('tests'), failures: count('failures'), errors: count('errors'), skipped: count('skipped'), outcomes };
}

/** Runs the suite against `registry` in a fresh working directory with the given settings on top of the common ones. */
async function runSuite(registry: RunningRegistry, extra: Record<string, string> = {}): Promise<{ result: RunResult; reportDir: string }> {
  // a fresh working directory: no stray oci-conformance.yaml (read from the cwd) and the reports land in it
  const reportDir = mkdtempSync(join(tmpdir(), 'regop-conformance-'));
  const result = await run('oci-conformance', [], {
    cwd: reportDir,
    allowFailure: true,
    timeoutMs: 900_000,
    env: {
      OCI_VERSION: '1.1',
      OCI_REGISTRY: registry.host,
      OCI_TLS: 'enabled', // verified: the suite trusts the test CA through SSL_CERT_FILE
      SSL_CERT_FILE: registry.caFile!,
      OCI_REPO1: 'conformance/repo1',
      OCI_REPO2: 'conformance/repo2', // the cross-mount source
      OCI_USERNAME: user.name,
      OCI_PASSWORD: user.password,
      OCI_RESULTS_DIR: join(reportDir, 'results'),
      // every workflow: pull, push, content discovery (tag listing, referrers) and content management (tag,
      // manifest and blob deletion), plus the optional parts we implement: upload cancel and digest headers
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
      ...extra,
    },
  });
  return { result, reportDir };
}

/** The run's outcome from its junit.xml; throws when the suite wrote none or ran nothing. */
function summarize(reportDir: string, result: RunResult): Summary {
  const junitFile = join(reportDir, 'results', 'junit.xml');
  if (!existsSync(junitFile)) {
    throw new Error(`the suite wrote no junit.xml (exit ${result.code})\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-3000)}`);
  }
  const summary = parseJunit(readFileSync(junitFile, 'utf8'));
  const passed = summary.outcomes.filter((o) => o.status === 'passed').length;
  if (summary.tests === 0 || summary.outcomes.length === 0 || passed === 0) {
    // the suite skips everything after a failed ping: its message (and the suite's output) says why
    const why = summary.outcomes.filter((o) => o.status === 'failed').slice(0, 3).map((o) => `${o.name}: ${o.message}`).join('\n');
    throw new Error(`the suite ran nothing: ${summary.tests} tests, ${summary.outcomes.length} testcases, ${passed} passed (exit ${result.code})\n` +
      `${why}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
  }
  return summary;
}

/** Runs every workflow against `registry`; fails with the specs that failed, their messages and the registry's logs. */
async function assertConformant(registry: RunningRegistry): Promise<void> {
  const { result, reportDir } = await runSuite(registry);
  let summary: Summary;
  try {
    summary = summarize(reportDir, result);
  } catch (error) {
    assert.fail(`${(error as Error).message}\n--- registry log (tail)\n${registry.logs().slice(-6000)}`);
  }
  const failed = summary.outcomes.filter((o) => o.status === 'failed');
  const passed = summary.outcomes.filter((o) => o.status === 'passed');
  const skipped = summary.outcomes.filter((o) => o.status === 'skipped');
  console.log(`conformance: ${passed.length} passed, ${failed.length} failed, ${skipped.length} skipped ` +
    `(junit: ${summary.tests} tests, ${summary.failures} failures, ${summary.errors} errors, ${summary.skipped} skipped)`);
  // the per-API summary, e.g. "Blob anonymous mount: Skip" (we only mount from a named repository)
  const resultsYaml = join(reportDir, 'results', 'results.yaml');
  const apis = existsSync(resultsYaml) ? readFileSync(resultsYaml, 'utf8').split('\napis:\n')[1] ?? '' : '';
  console.log(`conformance APIs:\n${apis.split('\n').filter((line) => /^  \S.*: \S/.test(line)).join('\n')}`);
  if (failed.length > 0 || summary.failures > 0 || summary.errors > 0) {
    const details = failed.map((o) => `- ${o.name}\n    ${o.message.replace(/\n/g, '\n    ')}`).join('\n');
    assert.fail(`${failed.length} conformance specs failed (junit counts ${summary.failures} failures, ${summary.errors} errors; ` +
      `full report: ${join(reportDir, 'results', 'report.html')}):\n${details}\n--- registry log (tail)\n${registry.logs().slice(-8000)}`);
  }
  assert.ok(passed.length >= 100, `only ${passed.length} specs passed: the suite did not exercise the registry`);
  assert.equal(result.code, 0, `the suite exited ${result.code}\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-2000)}`);
  rmSync(reportDir, { recursive: true, force: true });
}

describe('OCI distribution-spec conformance', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry({ tls: true, users: [user] });
  });
  after(async () => {
    await registry?.stop();
  });

  it('passes every spec of the pull, push, content discovery and content management workflows', () => assertConformant(registry));

  it('does not count a run that executed nothing as a pass', async () => {
    // the suite exits 0 when its filter selects nothing; the summary check must reject that run
    const { result, reportDir } = await runSuite(registry, { OCI_FILTER_TEST: 'OCI Conformance Test/no-such-branch' });
    assert.throws(() => summarize(reportDir, result), /wrote no junit\.xml|ran nothing/);
    rmSync(reportDir, { recursive: true, force: true });
    // and a report with no specs in it is rejected as such
    assert.equal(parseJunit('<testsuites tests="0" failures="0"></testsuites>').outcomes.length, 0);
    const parsed = parseJunit('<testsuites tests="2" failures="1"><testsuite name="s" tests="2" failures="1">' +
      '<testcase name="a/b" status="passed"></testcase>' +
      '<testcase name="a/c" status="failure"><system-out>manifest put failed: received 400&#xA;second line</system-out></testcase>' +
      '</testsuite></testsuites>');
    assert.deepEqual(parsed.outcomes.map((o) => o.status), ['passed', 'failed']);
    assert.equal(parsed.outcomes[1]!.message, 'manifest put failed: received 400\nsecond line');
    assert.equal(parsed.tests, 2);
  });
});

describe('OCI distribution-spec conformance on S3 storage', () => {
  let s3: S3Server | undefined;
  let registry: RunningRegistry | undefined;
  before(async () => {
    s3 = await startS3Server();
    await s3.createBucket('conformance');
    registry = await startRegistry({ tls: true, users: [user], storage: { s3: { server: s3, bucket: 'conformance', prefix: 'registry' } } });
  });
  after(async () => {
    await registry?.stop();
    await s3?.stop();
  });

  it('passes every spec of the pull, push, content discovery and content management workflows', () => assertConformant(registry!));
});
