import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDriverSuite } from './driver.suite.ts';
import { openFilesystemDriver } from './filesystem.ts';

runDriverSuite('filesystem', async () => {
  const root = mkdtempSync(join(tmpdir(), 'regop-fs-'));
  return { open: () => openFilesystemDriver(root) };
});
