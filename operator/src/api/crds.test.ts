import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { parse } from 'yaml';
import {
  CHART_CRD_DIR, CRD_DIR, CUSTOM_RESOURCES, crdFileName, crdSchema, customResourceDefinition, generatedFiles, openApiV3Schema,
} from './crds.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const files = generatedFiles();

type Schema = Record<string, unknown>;

/** every named property below `schema` that has no description, as a path (`.spec.storage.s3.bucket`) */
function undescribed(schema: Schema, path: string): string[] {
  const missing: string[] = [];
  for (const [name, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    const here = `${path}.${name}`;
    if (typeof property.description !== 'string' || property.description.trim() === '') missing.push(here);
    missing.push(...undescribed(property, here));
  }
  if (schema.items) missing.push(...undescribed(schema.items as Schema, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') missing.push(...undescribed(schema.additionalProperties as Schema, `${path}{}`));
  return missing;
}

/** nodes without a type, which the API server refuses in a structural schema */
function untyped(schema: Schema, path: string): string[] {
  const found = typeof schema.type === 'string' ? [] : [path || '<root>'];
  for (const [name, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) found.push(...untyped(property, `${path}.${name}`));
  if (schema.items) found.push(...untyped(schema.items as Schema, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') found.push(...untyped(schema.additionalProperties as Schema, `${path}{}`));
  return found;
}

describe('the CRDs generated from operator/src/api', () => {
  it('are committed as generated: crds/ and the chart\'s templates', () => {
    for (const file of files) {
      const path = join(root, file.path);
      assert.ok(existsSync(path), `${file.path} is missing: run \`npm run generate\``);
      assert.equal(readFileSync(path, 'utf8'), file.text, `${file.path} differs from operator/src/api: run \`npm run generate\``);
    }
    const generated = new Set(files.map((file) => file.path));
    for (const dir of [CRD_DIR, CHART_CRD_DIR]) {
      for (const name of readdirSync(join(root, dir)).filter((entry) => entry.endsWith('.yaml'))) {
        assert.ok(generated.has(`${dir}/${name}`), `${dir}/${name} is not generated from operator/src/api: run \`npm run generate\``);
      }
    }
    assert.ok(!existsSync(join(root, 'charts/regop/crds')), 'charts/regop/crds would be installed once and never upgraded by Helm');
  });

  it('describe every field of spec and status, so kubectl explain documents each one', () => {
    for (const source of CUSTOM_RESOURCES) {
      const schema = openApiV3Schema(source);
      assert.ok(typeof schema.description === 'string' && schema.description !== '', `${source.names.kind} has no description`);
      // metadata is ObjectMeta, which the API server documents itself
      const { metadata: _metadata, ...properties } = schema.properties as Record<string, Schema>;
      const missing = undescribed({ properties }, '');
      assert.deepEqual(missing, [], `${source.names.kind}: fields without a description: ${missing.join(', ')}`);
    }
  });

  it('find a field without a description anywhere: in list items, in the status', () => {
    const registry = structuredClone(openApiV3Schema(CUSTOM_RESOURCES[0]!));
    const at = (schema: Schema, ...path: string[]): Schema => path.reduce((node, step) =>
      (step === '[]' ? node.items : (node.properties as Record<string, Schema>)[step]) as Schema, schema);
    delete at(registry, 'spec', 'auth', 'users', '[]', 'access', '[]', 'actions').description;
    delete at(registry, 'status', 'mirrors', '[]', 'hitRatio').description;
    delete (registry.properties as Record<string, Schema>).metadata;
    assert.deepEqual(undescribed(registry, ''), ['.spec.auth.users[].access[].actions', '.status.mirrors[].hitRatio']);
  });

  it('are structural: every schema node has a type', () => {
    for (const source of CUSTOM_RESOURCES) assert.deepEqual(untyped(openApiV3Schema(source), ''), [], source.names.kind);
  });

  it('mean in YAML exactly what the API definition says', () => {
    for (const source of CUSTOM_RESOURCES) {
      const text = files.find((file) => file.path === `${CRD_DIR}/${crdFileName(source)}`)!.text;
      // kubectl and Helm read YAML 1.1
      assert.deepEqual(parse(text, { version: '1.1' }), customResourceDefinition(source));
      assert.deepEqual(parse(text), customResourceDefinition(source));
    }
  });

  it('ship in the chart as templates: only with crds.enabled, kept on uninstall with crds.keep, the same CRD as crds/', () => {
    for (const source of CUSTOM_RESOURCES) {
      const text = files.find((file) => file.path === `${CHART_CRD_DIR}/${crdFileName(source)}`)!.text;
      const lines = text.split('\n');
      assert.equal(lines.find((line) => line.startsWith('{{')), '{{- if .Values.crds.enabled }}');
      assert.equal(lines.filter((line) => line.trim() !== '').at(-1), '{{- end }}');
      assert.match(text, /\{\{- if \.Values\.crds\.keep \}\}\n {2}annotations:\n {4}helm\.sh\/resource-policy: keep\n {2}\{\{- end \}\}/);
      // what Helm renders with the defaults, without Helm: the directives on their own lines go, values are filled in
      const rendered = lines.filter((line) => !/^\s*\{\{-.*\}\}$/.test(line)).join('\n').replaceAll(/\{\{[^}]*\}\}/g, 'x');
      const crd = parse(rendered, { version: '1.1' }) as { metadata: { annotations: Record<string, string> }; spec: unknown };
      assert.deepEqual(crd.spec, customResourceDefinition(source).spec);
      assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
    }
    const values = parse(readFileSync(join(root, 'charts/regop/values.yaml'), 'utf8')) as { crds: unknown };
    assert.deepEqual(values.crds, { enabled: true, keep: true }, 'the chart installs the CRDs and keeps them on uninstall by default');
  });

  it('refuse a schema keyword a CRD cannot hold, naming where it is', () => {
    const union = Type.Object({ mode: Type.Union([Type.Literal('a'), Type.Literal('b')]) });
    assert.throws(() => crdSchema(union, '.spec'), /\.spec\.mode: anyOf cannot be part of a CRD schema/);
    assert.throws(() => crdSchema(Type.Record(Type.String(), Type.String()), '.spec.labels'), /patternProperties/);
  });
});
