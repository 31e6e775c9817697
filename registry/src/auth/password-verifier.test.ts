import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcrypt';
import { PasswordChecksBusy, PasswordVerifier } from './password-verifier.ts';

// written by Apache's `htpasswd -nbB -C 5 apache 's3cret!'`
const APACHE_LINE = 'apache:$2y$05$wfYm.JwbddF.lDG6W8dzkeA3fVyBa9E0wRlCpNAD9yBRxQC03Baka';

describe('PasswordVerifier', () => {
  const hash = APACHE_LINE.slice('apache:'.length);

  it('accepts the password of an Apache $2y$ hash and refuses others', async () => {
    const verifier = new PasswordVerifier();
    assert.equal(await verifier.verify('apache', 's3cret!', hash), true);
    assert.equal(await verifier.verify('apache', 's3cret', hash), false);
    assert.equal(await verifier.verify('apache', '', hash), false);
  });

  it('remembers a success without ever admitting a wrong password after it', async () => {
    const verifier = new PasswordVerifier();
    assert.equal(verifier.remembers('apache', 's3cret!', hash), false);
    assert.equal(await verifier.verify('apache', 's3cret!', hash), true);
    assert.equal(verifier.remembers('apache', 's3cret!', hash), true);
    assert.equal(await verifier.verify('apache', 'wrong', hash), false);
    assert.equal(await verifier.verify('apache', 's3cret!x', hash), false);
    assert.equal(await verifier.verify('other', 's3cret!', hash), true, 'same hash under another name is its own check');
    assert.equal(verifier.remembers('apache', 'wrong', hash), false, 'failures are not remembered');
  });

  it('forgets a success once the stored hash changes', async () => {
    const verifier = new PasswordVerifier();
    const before = bcrypt.hashSync('old', 4);
    assert.equal(await verifier.verify('dev', 'old', before), true);
    const after = bcrypt.hashSync('new', 4);
    assert.equal(await verifier.verify('dev', 'old', after), false);
    assert.equal(await verifier.verify('dev', 'new', after), true);
  });

  it('bounds the remembered successes, least recently used out first', async () => {
    const verifier = new PasswordVerifier({ maxRemembered: 2 });
    const h = bcrypt.hashSync('pw', 4);
    await verifier.verify('a', 'pw', h);
    await verifier.verify('b', 'pw', h);
    assert.ok(verifier.remembers('a', 'pw', h));
    await verifier.verify('c', 'pw', h);
    assert.equal(verifier.rememberedCount, 2);
    assert.ok(verifier.remembers('a', 'pw', h), 'recently used stays');
    assert.equal(verifier.remembers('b', 'pw', h), false, 'least recently used went');
  });

  it('answers a decoy check with false', async () => {
    assert.equal(await new PasswordVerifier().decoy('anything', 4), false);
  });

  it('checks passwords on other threads: the event loop\'s thread spends almost none of their CPU', async () => {
    const verifier = new PasswordVerifier({ maxConcurrentChecks: 2 });
    const costly = bcrypt.hashSync('right', 11);
    const threadBefore = process.threadCpuUsage();
    const processBefore = process.cpuUsage();
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => verifier.verify('u', `wrong${i}`, costly)));
    const thread = process.threadCpuUsage(threadBefore);
    const all = process.cpuUsage(processBefore);
    assert.deepEqual(results, [false, false, false, false]);
    const threadMs = (thread.user + thread.system) / 1000;
    const processMs = (all.user + all.system) / 1000;
    // CPU time, not wall time: a busy machine slows both sides alike
    assert.ok(threadMs < processMs / 10, `event loop thread ${threadMs} ms of ${processMs} ms CPU`);
  });

  it('runs at most maxConcurrentChecks at once, queues maxQueuedChecks more and refuses the rest', async () => {
    const verifier = new PasswordVerifier({ maxConcurrentChecks: 2, maxQueuedChecks: 3 });
    const h = bcrypt.hashSync('right', 10);
    const checks = Array.from({ length: 5 }, (_, i) => verifier.verify('u', `wrong${i}`, h));
    await assert.rejects(verifier.verify('u', 'one too many', h), PasswordChecksBusy);
    await assert.rejects(verifier.decoy('one too many', 4), PasswordChecksBusy, 'decoys queue like real checks');
    await assert.rejects(verifier.pretend(), PasswordChecksBusy, 'a pretended check is refused like a real one');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(verifier.load, { running: 2, waiting: 3 });
    assert.deepEqual(await Promise.all(checks), [false, false, false, false, false]);
    assert.deepEqual(verifier.load, { running: 0, waiting: 0 });
    assert.equal(await verifier.verify('u', 'right', h), true, 'room again once the queue drained');
  });

  it('pretends a check without queueing one', async () => {
    const verifier = new PasswordVerifier({ maxConcurrentChecks: 1 });
    await verifier.decoy('x', 4);
    const pretended = verifier.pretend();
    assert.deepEqual(verifier.load, { running: 0, waiting: 0 });
    assert.equal(await pretended, false);
  });
});
