import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcrypt';
import { parseHtpasswd } from './htpasswd.ts';

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

  it('makes unknown users cost as much as the most expensive real user, whatever the order of the file', () => {
    const cheap = bcrypt.hashSync('pw', 4);
    const dear = bcrypt.hashSync('pw', 6);
    assert.equal(parseHtpasswd(`a:${cheap}\nb:${dear}\nc:${cheap}\n`).decoyCost, 6);
    assert.equal(parseHtpasswd(`b:${dear}\na:${cheap}\n`).decoyCost, 6);
    assert.equal(parseHtpasswd('').decoyCost, 5, 'an empty file: htpasswd -B\'s default');
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
