import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { parseHtpasswd, PasswordVerifier } from './htpasswd.ts';

// written by Apache's `htpasswd -nbB -C 5 apache 's3cret!'`
const APACHE_LINE = 'apache:$2y$05$wfYm.JwbddF.lDG6W8dzkeA3fVyBa9E0wRlCpNAD9yBRxQC03Baka';

describe('parseHtpasswd', () => {
  it('reads bcrypt entries in all three prefixes and skips comments and blank lines', () => {
    const b = bcrypt.hashSync('pw', 4);
    const file = parseHtpasswd(`# users\n${APACHE_LINE}\r\n\n  \nbea:${b}\nann:${b.replace('$2b$', '$2a$')}\n`);
    assert.deepEqual([...file.users.keys()], ['apache', 'bea', 'ann']);
    assert.deepEqual(file.unsupported, []);
    assert.equal(file.decoyCost, 5, 'decoy cost follows the file');
  });

  it('keeps non-bcrypt entries out and names their users', () => {
    const file = parseHtpasswd('md5:$apr1$TjKrfvYT$nX5iFSE4UAFGg49q9m4Yu.\nsha:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\nplain:secret\ncut:$2y$05$tooShort\n');
    assert.equal(file.users.size, 0);
    assert.deepEqual(file.unsupported, ['md5', 'sha', 'plain', 'cut']);
  });

  it('lets the first entry of a user count, as Apache does', () => {
    const first = bcrypt.hashSync('first', 4);
    const file = parseHtpasswd(`dev:${first}\ndev:${bcrypt.hashSync('second', 4)}\n`);
    assert.equal(file.users.get('dev'), first);
    assert.deepEqual(file.duplicates, ['dev']);
  });

  it('rejects a line that is not user:hash by line number, without quoting it', () => {
    assert.throws(() => parseHtpasswd(`ok:${bcrypt.hashSync('pw', 4)}\nsupersecretline\n`), (error: Error) => {
      assert.equal(error.message, 'htpasswd line 2 is not user:hash');
      return true;
    });
  });
});

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
});
