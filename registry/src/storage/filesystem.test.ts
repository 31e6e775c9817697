import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDriverSuite } from './driver.suite.ts';
import { openFilesystemDriver } from './filesystem.ts';

runDriverSuite('filesystem', () => openFilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-fs-'))));
