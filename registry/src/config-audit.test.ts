import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from './config.ts';

const base = { storage: { root: '/tmp/x' } };
const withAudit = (audit: unknown) => buildConfig({ ...base, audit });
const withEndpoint = (endpoint: Record<string, unknown>) =>
  buildConfig({ ...base, notifications: { endpoints: [{ name: 'ci', url: 'https://hooks.example.com/regop', ...endpoint }] } });

describe('config: audit', () => {
  it('is on, to stdout, when not configured; no webhooks', () => {
    const config = buildConfig(base);
    assert.deepEqual(config.audit, { enabled: true });
    assert.deepEqual(config.notifications, { endpoints: [] });
  });

  it('takes enabled and a file', () => {
    assert.deepEqual(withAudit({ enabled: false, file: '/var/log/regop/audit.log' }).audit, { enabled: false, file: '/var/log/regop/audit.log' });
  });

  it('refuses an enabled that is not a boolean and unknown keys, naming them', () => {
    assert.throws(() => withAudit({ enabled: 'yes' }), /audit\.enabled must be true or false/);
    assert.throws(() => withAudit({ path: '/x' }), /unknown key audit\.path \(allowed: enabled, file\)/);
  });
});

describe('config: notifications', () => {
  it('gives an endpoint its defaults: all events, 5 s timeout, 3 retries, a queue of 1000', () => {
    assert.deepEqual(withEndpoint({}).notifications.endpoints, [{
      name: 'ci', url: 'https://hooks.example.com/regop', headers: {}, headerFiles: {}, events: null, timeoutMs: 5000, retries: 3, queueSize: 1000,
    }]);
  });

  it('takes every key', () => {
    const config = buildConfig({
      ...base,
      notifications: {
        source: '/namespaces/infra/registries/cache',
        endpoints: [{
          name: 'siem', url: 'http://10.0.0.5:8080/in?team=a', headers: { 'X-Team': 'a' }, headerFiles: { Authorization: '/etc/hooks/token' },
          caFile: '/etc/hooks/ca.crt', events: ['login', 'lockout', 'login'], timeout: '750ms', retries: 0, queueSize: 5,
        }],
      },
    });
    assert.deepEqual(config.notifications, {
      source: '/namespaces/infra/registries/cache',
      endpoints: [{
        name: 'siem', url: 'http://10.0.0.5:8080/in?team=a', headers: { 'X-Team': 'a' }, headerFiles: { Authorization: '/etc/hooks/token' },
        caFile: '/etc/hooks/ca.crt', events: ['login', 'lockout'], timeoutMs: 750, retries: 0, queueSize: 5,
      }],
    });
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no url', { url: undefined }, /notifications\.endpoints\[0\]\.url is required/],
    ['a url that is not one', { url: 'hooks example' }, /notifications\.endpoints\[0\]\.url must be an http:\/\/ or https:\/\/ URL/],
    ['another scheme', { url: 'ftp://hooks.example.com/' }, /must be an http:\/\/ or https:\/\/ URL \(got ftp:\)/],
    ['credentials in the url', { url: 'https://bot:s3cret@hooks.example.com/' }, /must not hold credentials: put them in headerFiles/],
    ['an unknown event', { events: ['manifest.push', 'image.scanned'] }, /events: unknown event "image\.scanned" \(known: manifest\.push, tag\.update, .*gc, retention, backup, restore\)/],
    ['an empty event list', { events: [] }, /events must be a non-empty list of event names/],
    ['a zero timeout', { timeout: '0s' }, /endpoints\[0\]\.timeout must be a duration above zero such as 5s \(got 0\)/],
    ['a negative timeout', { timeout: -1 }, /endpoints\[0\]\.timeout must be a duration such as 30s/],
    ['a zero queue', { queueSize: 0 }, /endpoints\[0\]\.queueSize must be a positive integer \(got 0\)/],
    ['a negative queue', { queueSize: -5 }, /endpoints\[0\]\.queueSize must be a non-negative integer/],
    ['negative retries', { retries: -1 }, /endpoints\[0\]\.retries must be a non-negative integer/],
    ['fractional retries', { retries: 1.5 }, /endpoints\[0\]\.retries must be a non-negative integer/],
    ['no name', { name: undefined }, /endpoints\[0\]\.name is required/],
    ['a name with spaces', { name: 'my hook' }, /endpoints\[0\]\.name is required: 1-63 letters/],
    ['a header name that is not one', { headers: { 'Bad Header': 'x' } }, /headers: "Bad Header" is not a header name/],
    ['a header value on two lines', { headers: { 'X-A': 'a\r\nX-B: b' } }, /headers\.X-A must be a one-line string/],
    ['a content-type header', { headers: { 'Content-Type': 'text/plain' } }, /headers: Content-Type is set by the registry/],
    ['a header both given and from a file', { headers: { authorization: 'x' }, headerFiles: { Authorization: '/f' } }, /header authorization is in both headers and headerFiles/],
    ['headerFiles that are not a mapping', { headerFiles: ['/f'] }, /headerFiles must be a mapping of header names to files/],
    ['an unknown key', { timeoutMs: 5000 }, /unknown key notifications\.endpoints\[0\]\.timeoutMs \(allowed: name, url, .*queueSize\)/],
  ];
  for (const [what, endpoint, message] of refusals) {
    it(`refuses ${what}`, () => assert.throws(() => withEndpoint(endpoint), message));
  }

  it('never quotes a header value or a url with credentials back in an error', () => {
    for (const endpoint of [{ headers: { 'X-Token': 'tok-123\nsecret' } }, { url: 'https://bot:pw-456@hooks.example.com/' }]) {
      assert.throws(() => withEndpoint(endpoint), (error: Error) => !/tok-123|pw-456/.test(error.message));
    }
  });

  it('refuses two endpoints of one name, and endpoints that are not a list', () => {
    const endpoint = { name: 'ci', url: 'https://a.example.com/' };
    assert.throws(() => buildConfig({ ...base, notifications: { endpoints: [endpoint, endpoint] } }), /the name ci is used twice/);
    assert.throws(() => buildConfig({ ...base, notifications: { endpoints: endpoint } }), /notifications\.endpoints must be a list/);
    assert.throws(() => buildConfig({ ...base, notifications: { hooks: [] } }), /unknown key notifications\.hooks \(allowed: source, endpoints\)/);
  });
});
