// Bundles the operator and the node agent into one file each (dist/bundle/), what the chart runs. Loading
// @kubernetes/client-node module by module keeps 25 MB of generated source text and every model of the whole
// Kubernetes API in memory: 74 MiB of RSS before the operator has done anything. Bundled, with its comments and
// whitespace dropped and what the operator never imports left out, the same process starts at 88 MiB instead of
// 116-122. Identifiers are kept, so stack traces still name their functions; the source maps beside the bundles
// point back at the TypeScript.
import { build } from 'esbuild';

await build({
  entryPoints: {
    operator: 'operator/src/main.ts',
    'node-agent': 'operator/src/node-agent/main.ts',
  },
  outdir: 'dist/bundle',
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
});
