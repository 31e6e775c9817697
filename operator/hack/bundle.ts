// Bundles what the image runs (dist/bundle/): the operator and the node agent into one file each, and the
// registry into an entry with chunks for what it loads on demand (the S3 driver and the AWS SDK). Loading
// @kubernetes/client-node module by module keeps 25 MB of generated source text and every model of the whole
// Kubernetes API in memory: 74 MiB of RSS before the operator has done anything. Bundled, with its comments and
// whitespace dropped and what the operator never imports left out, the same process starts at 88 MiB instead of
// 116-122. The registry, started once per pod (50 at once when 50 Registries are applied), listens after 0.40 s of
// CPU instead of 0.68 s, and at 85 MiB of RSS instead of 94. Identifiers are kept, so stack traces still name their
// functions; the source maps beside the bundles point back at the TypeScript.
import { cpSync, readFileSync } from 'node:fs';
import { build, type BuildOptions } from 'esbuild';

const common: BuildOptions = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // a native addon: loaded from node_modules at run time
  external: ['bcrypt'],
  // CommonJS dependencies require() Node's built-ins, which an ES module bundle has no require for
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: {
    operator: 'operator/src/main.ts',
    'node-agent': 'operator/src/node-agent/main.ts',
  },
  outdir: 'dist/bundle',
});

const registryDirectory = 'dist/bundle/registry';
await build({
  ...common,
  entryPoints: { registry: 'registry/src/cli.ts' },
  outdir: registryDirectory,
  // dynamic imports become chunks loaded when first imported, as the modules were
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
});
// the web UI finds its assets beside its own module (registry/src/ui/assets.ts), which lands in the entry
if (!readFileSync(`${registryDirectory}/registry.mjs`, 'utf8').includes('new URL("./assets/",import.meta.url)')) {
  throw new Error('the UI\'s assets are no longer looked up from the registry bundle\'s entry: copy them beside the chunk that does');
}
cpSync('registry/src/ui/assets', `${registryDirectory}/assets`, { recursive: true });
