// `npm run generate`: writes the CRDs from the API definitions in operator/src/api (see crds.ts) to crds/ and to
// the chart's templates, and removes any other YAML file there (a kind renamed or dropped). crds.test.ts fails
// until the committed files match what this writes.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART_CRD_DIR, CRD_DIR, generatedFiles } from '../src/api/crds.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const files = generatedFiles();
const wanted = new Set(files.map((file) => file.path));

for (const dir of [CRD_DIR, CHART_CRD_DIR]) {
  mkdirSync(join(root, dir), { recursive: true });
  for (const name of readdirSync(join(root, dir))) {
    const path = `${dir}/${name}`;
    if (name.endsWith('.yaml') && !wanted.has(path)) {
      rmSync(join(root, path));
      console.log(`removed ${path}`);
    }
  }
}
for (const file of files) {
  const path = join(root, file.path);
  let current: string | null = null;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = null;
  }
  if (current === file.text) {
    console.log(`unchanged ${file.path}`);
  } else {
    writeFileSync(path, file.text);
    console.log(`wrote ${file.path}`);
  }
}
