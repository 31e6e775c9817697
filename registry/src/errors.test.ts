import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ErrorCodes, registryError } from './errors.ts';

describe('registry errors', () => {
  it('can be logged with pino\'s error serializer (a frozen descriptor once made it throw)', () => {
    const lines: string[] = [];
    const error = registryError(ErrorCodes.DIGEST_INVALID, 'content of another digest');
    pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }).warn({ err: error }, 'fetch failed');
    assert.match(lines[0]!, /content of another digest/);
    assert.equal(error.descriptor.code, 'DIGEST_INVALID');
  });

  it('gives every condition its own code: a descriptor\'s code is its name, and no two share one', () => {
    for (const [name, descriptor] of Object.entries(ErrorCodes)) assert.equal(descriptor.code, name);
    const codes = Object.values(ErrorCodes).map((descriptor) => descriptor.code);
    assert.equal(new Set(codes).size, codes.length);
  });
});
