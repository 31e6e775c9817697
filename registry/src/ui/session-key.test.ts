import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FilesystemDriver } from '../storage/filesystem.ts';
import { SessionKey, SESSION_KEY_PATH } from './session-key.ts';

const logger = pino({ level: 'silent' });

describe('ui session key', () => {
  it('is created once in storage and shared by every process reading that storage', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'regop-session-key-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const first = await new SessionKey(new FilesystemDriver(root), logger).current();
    const second = await new SessionKey(new FilesystemDriver(root), logger).current();
    assert.equal(first.length, 32);
    assert.ok(first.equals(second));
  });

  it('replaces a malformed stored key', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'regop-session-key-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const driver = new FilesystemDriver(root);
    await driver.putContent(SESSION_KEY_PATH, 'short');
    assert.equal((await new SessionKey(driver, logger).current()).length, 32);
  });
});
