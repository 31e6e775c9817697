import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import pino from 'pino';
import { Authenticator } from '../auth/index.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import { Auditor } from './auditor.ts';
import { toCloudEvent } from './cloudevent.ts';
import { cloudEventType, type AuditEvent } from './event.ts';
import { auditedApiRequest } from './requests.ts';

function recording(): { auditor: Auditor; events: AuditEvent[] } {
  const auditor = new Auditor();
  const events: AuditEvent[] = [];
  auditor.attach({ write: (event) => events.push(event) });
  return { auditor, events };
}

const request = () => ({ id: 'req-1', ip: '10.0.0.7', user: 'ci', routeGroup: 'manifests' });
const DIGEST = `sha256:${'a'.repeat(64)}`;
const OLD = `sha256:${'b'.repeat(64)}`;

describe('Auditor', () => {
  it('stamps an event with its id, time, user, client address, request id and channel', () => {
    const { auditor, events } = recording();
    auditor.record(request(), { action: 'blob.delete', repository: 'team/app', digest: DIGEST, size: 12 });
    const [event] = events;
    assert.match(event!.id, /^[0-9a-f-]{36}$/);
    assert.ok(Math.abs(Date.parse(event!.time) - Date.now()) < 5000);
    assert.deepEqual({ ...event, id: undefined, time: undefined }, {
      id: undefined, time: undefined, action: 'blob.delete', result: 'success', user: 'ci', clientAddress: '10.0.0.7', requestId: 'req-1',
      via: 'api', repository: 'team/app', digest: DIGEST, size: 12,
    });
    auditor.record({ ...request(), routeGroup: 'ui' }, { action: 'tag.delete' });
    auditor.record({ ip: '10.0.0.8' }, { action: 'login', result: 'failure', user: 'mallory' });
    assert.equal(events[1]!.via, 'ui');
    assert.deepEqual([events[2]!.user, events[2]!.requestId, events[2]!.via], ['mallory', null, 'api']);
  });

  it('a push by tag gives manifest.push and tag.update with the digest before; a push of the same digest moves no tag', () => {
    const { auditor, events } = recording();
    const first = request();
    auditor.expect(first, auditedApiRequest({ group: 'manifests', name: 'team/app', reference: 'v1' }, 'PUT', 'team/app', () => undefined));
    auditor.pushed(first, { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 500, previousDigest: null });
    const second = request();
    auditor.expect(second, { action: 'manifest.push', repository: 'team/app', tag: 'v1' });
    auditor.pushed(second, { digest: DIGEST, size: 500, previousDigest: DIGEST });
    const third = request();
    auditor.expect(third, { action: 'manifest.push', repository: 'team/app', tag: 'v1' });
    auditor.pushed(third, { digest: OLD, size: 400, previousDigest: DIGEST });
    assert.deepEqual(events.map((event) => [event.action, event.tag, event.digest, event.previousDigest]), [
      ['manifest.push', 'v1', DIGEST, undefined],
      ['tag.update', 'v1', DIGEST, null],
      ['manifest.push', 'v1', DIGEST, undefined],
      ['manifest.push', 'v1', OLD, undefined],
      ['tag.update', 'v1', OLD, DIGEST],
    ]);
    assert.equal(events[0]!.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  it('records a refused request as denied and a failed one as failure, with what the client was told and no internals', () => {
    const { auditor, events } = recording();
    const cases: Array<[unknown, string, string, string]> = [
      [registryError(ErrorCodes.UNAUTHORIZED, 'authentication required'), 'denied', 'UNAUTHORIZED', 'authentication required'],
      [registryError(ErrorCodes.DENIED, 'user may not delete team/app'), 'denied', 'DENIED', 'user may not delete team/app'],
      [registryError(ErrorCodes.TOOMANYREQUESTS, 'too many failed logins'), 'denied', 'TOOMANYREQUESTS', 'too many failed logins'],
      [registryError(ErrorCodes.MANIFEST_BLOB_UNKNOWN, 'manifest references unknown blobs'), 'failure', 'MANIFEST_BLOB_UNKNOWN', 'manifest references unknown blobs'],
      [new Error('EACCES: permission denied, open /var/lib/regop/blobs/x'), 'failure', 'UNKNOWN', 'unknown error'],
    ];
    for (const [error] of cases) {
      const failing = request();
      auditor.expect(failing, { action: 'manifest.delete', repository: 'team/app', digest: DIGEST });
      auditor.failed(failing, error);
      auditor.failed(failing, error);
    }
    assert.equal(events.length, cases.length, 'one event per request, however often it fails');
    assert.deepEqual(events.map((event) => [event.result, event.error?.code, event.error?.message]), cases.map(([, ...rest]) => rest));
    auditor.failed(request(), new Error('not expected'));
    assert.equal(events.length, cases.length, 'a request nobody announced records nothing');
  });

  it('does nothing, and reads no tag, with no sink attached', async () => {
    const auditor = new Auditor();
    const repositories = { getTag: () => assert.fail('read a tag for nobody') } as unknown as RepositoryStore;
    assert.equal(await auditor.tagTarget(repositories, 'team/app', 'v1'), undefined);
    auditor.expect(request(), { action: 'gc' });
    auditor.record(request(), { action: 'gc' });
  });

  it('reads the digest a tag names before a change, and none for a digest reference', async () => {
    const { auditor } = recording();
    const repositories = {
      getTag: async (_repository: string, tag: string) => (tag === 'v1' ? { digest: OLD, pushedAt: '' } : null),
    } as unknown as RepositoryStore;
    assert.equal(await auditor.tagTarget(repositories, 'team/app', 'v1'), OLD);
    assert.equal(await auditor.tagTarget(repositories, 'team/app', 'v2'), null);
    assert.equal(await auditor.tagTarget(repositories, 'team/app', DIGEST), undefined);
  });

  it('does not let a failed tag read fail the push: the tag.update then leaves the previous digest out', async () => {
    const { auditor, events } = recording();
    const broken = { getTag: async () => { throw new Error('storage unreachable'); } } as unknown as RepositoryStore;
    const pushing = request();
    auditor.expect(pushing, { action: 'manifest.push', repository: 'team/app', tag: 'v1' });
    const previousDigest = await auditor.tagTarget(broken, 'team/app', 'v1');
    assert.equal(previousDigest, undefined);
    auditor.pushed(pushing, { digest: DIGEST, size: 10, previousDigest });
    assert.deepEqual(events.map((event) => [event.action, 'previousDigest' in event]), [['manifest.push', false], ['tag.update', false]]);
  });

  it('keeps going when a sink fails', () => {
    const auditor = new Auditor();
    const events: AuditEvent[] = [];
    auditor.attach({ write: () => { throw new Error('disk full'); } });
    auditor.attach({ write: (event) => events.push(event) });
    auditor.record(request(), { action: 'gc' });
    assert.equal(events.length, 1);
  });
});

describe('failed logins and lockouts', () => {
  it('records each failure with the name tried and why, and the lockout once, never the password', async () => {
    const htpasswd = join(mkdtempSync(join(tmpdir(), 'regop-audit-auth-')), 'htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('wonderland', 4)}\n`);
    const { auditor, events } = recording();
    const auth = await Authenticator.create({ htpasswdFile: htpasswd, maxFailures: 3, audit: auditor }, pino({ level: 'silent' }));
    try {
      const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      const origin = { id: 'req-9', ip: '10.9.9.9', user: null, routeGroup: 'base' };
      for (const password of ['guess-1', 'guess-2', 'guess-3']) {
        await assert.rejects(auth.authenticate(basic('alice', password), '10.9.9.9', origin));
      }
      await assert.rejects(auth.authenticate(basic('alice', 'wonderland'), '10.9.9.9', origin), /too many failed logins/);
      await assert.rejects(auth.authenticate(basic('nobody', 'x'), '10.9.9.9', origin));
      await assert.rejects(auth.authenticate('Basic !!!', '10.9.9.9', origin));
    } finally {
      auth.close();
    }
    assert.deepEqual(events.map((event) => [event.action, event.result, event.user, event.detail?.reason ?? event.detail?.scope]), [
      ['login', 'failure', 'alice', 'wrong password'],
      ['login', 'failure', 'alice', 'wrong password'],
      ['login', 'failure', 'alice', 'wrong password'],
      ['lockout', 'denied', 'alice', 'user'],
      ['login', 'failure', 'nobody', 'no such user'],
      ['login', 'failure', null, 'malformed credentials'],
    ]);
    assert.ok(events.every((event) => event.requestId === 'req-9' && event.clientAddress === '10.9.9.9'));
    assert.doesNotMatch(JSON.stringify(events), /guess-|wonderland/);
  });
});

describe('audited API requests', () => {
  const query = (values: Record<string, string>) => (key: string) => values[key];
  it('names manifest pushes and deletes, tag deletes, blob deletes and mounts; nothing else', () => {
    const name = 'team/app';
    assert.deepEqual(auditedApiRequest({ group: 'manifests', reference: DIGEST }, 'DELETE', name, query({})), { action: 'manifest.delete', repository: name, digest: DIGEST });
    assert.deepEqual(auditedApiRequest({ group: 'manifests', reference: 'v1' }, 'DELETE', name, query({})), { action: 'tag.delete', repository: name, tag: 'v1' });
    assert.deepEqual(auditedApiRequest({ group: 'blobs', digest: DIGEST }, 'DELETE', name, query({})), { action: 'blob.delete', repository: name, digest: DIGEST });
    assert.deepEqual(auditedApiRequest({ group: 'uploads' }, 'POST', name, query({ mount: DIGEST, from: 'team/base' })),
      { action: 'blob.mount', repository: name, digest: DIGEST, detail: { from: 'team/base' } });
    for (const [group, method] of [['manifests', 'GET'], ['blobs', 'GET'], ['uploads', 'POST'], ['uploads', 'PUT'], ['tags', 'GET']] as const) {
      assert.equal(auditedApiRequest({ group }, method, name, query({})), null, `${method} ${group}`);
    }
  });
});

describe('CloudEvents', () => {
  it('types a success by its past, a refusal and a failure by their own suffix; login events keep their name', () => {
    assert.equal(cloudEventType('manifest.push', 'success'), 'dev.regop.registry.manifest.pushed');
    assert.equal(cloudEventType('manifest.push', 'denied'), 'dev.regop.registry.manifest.push.denied');
    assert.equal(cloudEventType('tag.delete', 'failure'), 'dev.regop.registry.tag.delete.failed');
    assert.equal(cloudEventType('login', 'failure'), 'dev.regop.registry.login.failed');
    assert.equal(cloudEventType('lockout', 'denied'), 'dev.regop.registry.login.lockedout');
    assert.equal(cloudEventType('gc', 'success'), 'dev.regop.registry.gc.completed');
  });

  it('wraps the event as data, with the subject naming the repository and tag or digest', () => {
    const { auditor, events } = recording();
    auditor.record(request(), { action: 'manifest.push', repository: 'team/app', tag: 'v1', digest: DIGEST });
    auditor.record(request(), { action: 'manifest.delete', repository: 'team/app', digest: DIGEST });
    auditor.record(request(), { action: 'gc' });
    const [pushed, deleted, gc] = events.map((event) => toCloudEvent(event, '/regop-registry/test'));
    assert.deepEqual({ ...pushed, data: undefined }, {
      specversion: '1.0', id: events[0]!.id, source: '/regop-registry/test', type: 'dev.regop.registry.manifest.pushed',
      time: events[0]!.time, subject: 'team/app:v1', datacontenttype: 'application/json', data: undefined,
    });
    assert.equal(pushed!.data, events[0]);
    assert.equal(deleted!.subject, `team/app@${DIGEST}`);
    assert.equal('subject' in gc!, false);
  });
});
