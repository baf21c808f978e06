/**
 * The client's manifest reading checked against the JSON Schema the Python exporter generates
 * (schema/manifest.schema.json, from `python -m nightscan_edge.artifact.schema`; the Python tests keep it in
 * step with the exporter). A field renamed, dropped or retyped on the Python side fails here, so the two
 * cannot drift apart silently.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { validateManifest } from '../src/manifest.js';

const schema = JSON.parse(readFileSync(new URL('../schema/manifest.schema.json', import.meta.url), 'utf8'));
const defs = schema.$defs;

const resolve = (node) => (node.$ref ? resolve(defs[node.$ref.replace('#/$defs/', '')]) : node);

const TYPES = {
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean: (v) => typeof v === 'boolean',
  null: (v) => v === null,
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
};

/** The JSON Schema keywords the generated schema uses; returns the problems (empty: valid). */
function check(value, node, path = '$') {
  node = resolve(node);
  const problems = [];
  if (node.anyOf || node.oneOf) {
    const options = node.anyOf ?? node.oneOf;
    const passing = options.filter((option) => check(value, option, path).length === 0).length;
    if (node.oneOf ? passing !== 1 : passing === 0) problems.push(`${path}: matches ${passing} of ${options.length} options`);
  }
  if (node.type && ![node.type].flat().some((type) => TYPES[type](value))) {
    return [...problems, `${path}: ${JSON.stringify(value)} is not ${node.type}`];
  }
  if ('const' in node && value !== node.const) problems.push(`${path}: ${JSON.stringify(value)} !== ${JSON.stringify(node.const)}`);
  if (node.enum && !node.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(node.enum)}`);
  if (node.minimum !== undefined && value < node.minimum) problems.push(`${path}: ${value} < ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined && value <= node.exclusiveMinimum) problems.push(`${path}: ${value} <= ${node.exclusiveMinimum}`);
  if (TYPES.array(value)) {
    if (node.minItems !== undefined && value.length < node.minItems) problems.push(`${path}: fewer than ${node.minItems} items`);
    if (node.items) value.forEach((item, i) => problems.push(...check(item, node.items, `${path}[${i}]`)));
  }
  if (TYPES.object(value)) {
    for (const key of node.required ?? []) if (!(key in value)) problems.push(`${path}: missing '${key}'`);
    for (const [key, item] of Object.entries(value)) {
      if (node.properties && key in node.properties) problems.push(...check(item, node.properties[key], `${path}.${key}`));
      else if (node.additionalProperties === false) problems.push(`${path}: unexpected '${key}'`);
      else if (TYPES.object(node.additionalProperties)) problems.push(...check(item, node.additionalProperties, `${path}.${key}`));
    }
  }
  return problems;
}

/** The smallest value the schema allows: defaults where the exporter has them, else one of the right type. */
function example(node, choice = 0) {
  node = resolve(node);
  if ('default' in node) return structuredClone(node.default);
  if ('const' in node) return node.const;
  if (node.enum) return node.enum[0];
  if (node.anyOf || node.oneOf) return example((node.anyOf ?? node.oneOf)[Math.min(choice, (node.anyOf ?? node.oneOf).length - 1)]);
  switch ([node.type].flat()[0]) {
    case 'string': return 'x';
    case 'integer': return Math.max(1, (node.exclusiveMinimum ?? 0) + 1, node.minimum ?? 0);
    case 'number': return Math.max(1, (node.exclusiveMinimum ?? 0) + 1, node.minimum ?? 0);
    case 'boolean': return true;
    case 'array': return Array.from({ length: node.minItems ?? 1 }, () => example(node.items ?? { type: 'string' }));
    case 'object': {
      const value = {};
      for (const key of node.required ?? []) value[key] = example(node.properties[key], choice);
      return value;
    }
    default: return null;
  }
}

const manifest = (choice = 0) => example({ $ref: '#/$defs/Manifest' }, choice);
const exportManifest = () => ({ ...example({ $ref: '#/$defs/ExportManifest' }), artifacts: { 'model.onnx': manifest() } });
const specSchema = (kind) => resolve(resolve(defs.Manifest.properties.input).properties.spec.oneOf.find((o) => resolve(o).properties.kind.const === kind));

test('a manifest the schema allows is one the client accepts (embedded, beside the export, audio and image)', () => {
  const image = manifest(1);
  for (const value of [manifest(), image, exportManifest()]) {
    assert.deepEqual(check(value, schema), []);
    assert.equal(validateManifest(value), value);
  }
  assert.equal(image.input.spec.kind, 'image');
});

test('every field the client reads is one the exporter always writes, with the type the client expects', () => {
  const required = (node) => resolve(node).required ?? [];
  const typeOf = (node, key) => resolve(resolve(node).properties[key]);
  for (const name of ['Manifest', 'ExportManifest']) {
    const top = defs[name];
    for (const key of ['labels', 'input', 'output', 'temperature', 'model_name', 'run_id']) assert.ok(required(top).includes(key), `${name}.${key}`);
    assert.deepEqual(typeOf(top, 'labels').items, { type: 'string' });
    assert.equal(typeOf(top, 'temperature').type, 'number');
    for (const key of ['name', 'shape', 'spec']) assert.ok(required(top.properties.input).includes(key), `${name}.input.${key}`);
    assert.deepEqual(typeOf(top.properties.input, 'shape').items, { type: 'integer' });
    for (const key of ['name', 'meaning', 'temperature_applied']) assert.ok(required(top.properties.output).includes(key), `${name}.output.${key}`);
    assert.equal(typeOf(top.properties.output, 'meaning').const, 'probabilities');
    assert.equal(typeOf(top.properties.output, 'temperature_applied').type, 'boolean');
  }
  const audio = specSchema('audio');
  for (const key of ['sample_rate', 'clip_samples']) {
    assert.ok(audio.required.includes(key));
    assert.equal(audio.properties[key].type, 'integer');
  }
  assert.deepEqual([...audio.properties.pad_mode.enum].sort(), ['loop', 'zero']); // the modes the client pads with
  const image = specSchema('image');
  for (const key of ['image_size', 'channels', 'mean', 'std']) assert.ok(image.required.includes(key));
  assert.deepEqual(image.properties.channels.enum, [1, 3]);
  assert.equal(image.properties.mean.type, 'array');
});

test('what the schema refuses, the client refuses too', () => {
  const cases = [
    ['no labels', (m) => delete m.labels],
    ['empty labels', (m) => (m.labels = [])],
    ['labels not strings', (m) => (m.labels = [1, 2])],
    ['no input spec', (m) => delete m.input.spec],
    ['unknown spec kind', (m) => (m.input.spec.kind = 'video')],
    ['no sample rate', (m) => delete m.input.spec.sample_rate],
    ['fractional clip length', (m) => (m.input.spec.clip_samples = 1.5)],
    ['unknown pad mode', (m) => (m.input.spec.pad_mode = 'mirror')],
    ['output is logits', (m) => (m.output.meaning = 'logits')],
    ['negative temperature', (m) => (m.temperature = -1)],
  ];
  for (const [what, spoil] of cases) {
    const value = manifest();
    spoil(value);
    assert.notDeepEqual(check(value, schema), [], `schema accepts: ${what}`);
    assert.throws(() => validateManifest(value), undefined, `client accepts: ${what}`);
  }
});
