import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForeignFilesError, HostsDirectory, OWNER_FILE } from './hosts-directory.ts';

let root: string;
let directory: HostsDirectory;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'regop-hosts-'));
  directory = new HostsDirectory(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('hosts directory', () => {
  it('writes the files, leaves no temporary file behind and knows it owns them', async () => {
    assert.equal(await directory.write('apps/team', 'team.apps.svc', { 'ca.crt': 'CA\n', 'hosts.toml': 'server = "x"\n' }), true);
    assert.equal(readFileSync(join(root, 'team.apps.svc', 'hosts.toml'), 'utf8'), 'server = "x"\n');
    assert.equal(readFileSync(join(root, 'team.apps.svc', 'ca.crt'), 'utf8'), 'CA\n');
    assert.deepEqual(readdirSync(join(root, 'team.apps.svc')).sort(), [OWNER_FILE, 'ca.crt', 'hosts.toml']);
    assert.deepEqual([...(await directory.owned())], [['apps/team', ['team.apps.svc']]]);
    assert.equal(await directory.write('apps/team', 'team.apps.svc', { 'ca.crt': 'CA\n', 'hosts.toml': 'server = "x"\n' }), false, 'unchanged');
    assert.equal(await directory.write('apps/team', 'team.apps.svc', { 'ca.crt': 'CA2\n', 'hosts.toml': 'server = "x"\n' }), true);
    assert.equal(readFileSync(join(root, 'team.apps.svc', 'ca.crt'), 'utf8'), 'CA2\n');
  });

  it('drops its CA when the plan has none any more', async () => {
    await directory.write('apps/team', 'team.apps.svc', { 'ca.crt': 'CA\n', 'hosts.toml': 'a\n' });
    await directory.write('apps/team', 'team.apps.svc', { 'hosts.toml': 'b\n' });
    assert.equal(existsSync(join(root, 'team.apps.svc', 'ca.crt')), false);
  });

  it('never overwrites or removes files it did not write', async () => {
    mkdirSync(join(root, 'team.apps.svc'));
    writeFileSync(join(root, 'team.apps.svc', 'hosts.toml'), 'server = "https://admin.example"\n');
    await assert.rejects(directory.write('apps/team', 'team.apps.svc', { 'hosts.toml': 'mine\n' }), ForeignFilesError);
    assert.equal(await directory.remove('apps/team', 'team.apps.svc'), false);
    assert.equal(readFileSync(join(root, 'team.apps.svc', 'hosts.toml'), 'utf8'), 'server = "https://admin.example"\n');

    await directory.write('apps/one', 'shared.svc', { 'hosts.toml': 'one\n' });
    await assert.rejects(directory.write('other/two', 'shared.svc', { 'hosts.toml': 'two\n' }), ForeignFilesError);
    assert.equal(await directory.remove('other/two', 'shared.svc'), false);
    assert.equal(readFileSync(join(root, 'shared.svc', 'hosts.toml'), 'utf8'), 'one\n');
  });

  it('removes only its own files, and the directory once empty', async () => {
    await directory.write('apps/team', 'team.apps.svc', { 'ca.crt': 'CA\n', 'hosts.toml': 'x\n' });
    assert.equal(await directory.remove('apps/team', 'team.apps.svc'), true);
    assert.equal(existsSync(join(root, 'team.apps.svc')), false);

    await directory.write('apps/team', 'team.apps.svc', { 'hosts.toml': 'x\n' });
    writeFileSync(join(root, 'team.apps.svc', 'client.cert'), 'admin put this here');
    await directory.remove('apps/team', 'team.apps.svc');
    assert.deepEqual(readdirSync(join(root, 'team.apps.svc')), ['client.cert']);
  });

  it('says when the directory is not writable', { skip: process.getuid?.() === 0 ? 'root writes anywhere' : false }, async () => {
    chmodSync(root, 0o500);
    const result = await directory.writable();
    chmodSync(root, 0o700);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'DirectoryNotWritable');
  });

  it('says when the directory is not a directory', async () => {
    const file = join(root, 'file');
    writeFileSync(file, '');
    const result = await new HostsDirectory(file).writable();
    assert.equal(!result.ok && result.reason, 'DirectoryNotWritable');
  });
});
