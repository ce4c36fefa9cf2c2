/**
 * Hostile Keras input: `.keras` zips with duplicate or escaping names, Lambda / custom /
 * TensorFlowOpLayer layers (refused without decoding anything), tfjs manifests that declare more
 * than their shards hold or a shard outside the model folder, and malformed model JSON. Every
 * failure is a RosettaError with a stable code naming the layer or entry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportKerasZip } from '../../src/exporters/keras/index.js';
import { readZip, writeZip } from '../../src/formats/zip.js';
import { kerasJsonImporter, kerasZipImporter, lowerKerasModel, normalizeModel, tfjsImporter } from '../../src/importers/keras/index.js';
import type { Model } from '../../src/ir/graph.js';
import { openFile } from '../../src/node/files.js';

const enc = new TextEncoder();
const dense = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'dense', units: 2, batch_input_shape: [null, 3] } }] } };

async function denseModel(): Promise<Model> {
  const r = await kerasJsonImporter.open({ name: 'm.json', bytes: enc.encode(JSON.stringify(dense)) });
  return (r as { model: Model }).model;
}

/** Rewrite every occurrence of `from` with the same-length `to` (names in local + central headers). */
function rename(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = bytes.slice();
  const f = enc.encode(from);
  const t = enc.encode(to);
  expect(t.length).toBe(f.length);
  for (let i = 0; i + f.length <= out.length; i++) if (f.every((c, k) => out[i + k] === c)) out.set(t, i);
  return out;
}

async function kerasZipWith(extra: { name: string; data: Uint8Array }[]): Promise<Uint8Array> {
  const res = await exportKerasZip(await denseModel(), 'm.keras');
  const zip = readZip(res.files.get('m.keras')!);
  return writeZip([...zip.names().map((n) => ({ name: n, data: zip.read(n) })), ...extra]);
}

describe('.keras zip: hostile archives', () => {
  it('the unmodified export loads (baseline)', async () => {
    const bytes = await kerasZipWith([]);
    expect(kerasZipImporter.match(bytes, 'x.keras')).toBe(true);
    await expect(kerasZipImporter.open({ name: 'ok.keras', bytes })).resolves.toMatchObject({ kind: 'model' });
  });
  it('an entry escaping with ../ is refused, naming it', async () => {
    const bytes = rename(await kerasZipWith([{ name: 'zz/extra.json', data: enc.encode('{}') }]), 'zz/extra.json', '../extra.json');
    await expect(kerasZipImporter.open({ name: 'escape.keras', bytes })).rejects.toMatchObject({ code: 'E_PATH_ESCAPE' });
  });
  it('a duplicate config.json is refused, naming the entry', async () => {
    const bytes = rename(await kerasZipWith([{ name: 'config.jsoN', data: enc.encode('{"class_name":"Lambda"}') }]), 'config.jsoN', 'config.json');
    await expect(kerasZipImporter.open({ name: 'dup.keras', bytes })).rejects.toMatchObject({ code: 'E_BAD_FORMAT', where: { entry: 'config.json' } });
  });
  it('a zip without config.json is not a .keras file', async () => {
    const bytes = writeZip([{ name: 'x.txt', data: enc.encode('x') }]);
    expect(kerasZipImporter.match(bytes, 'x.keras')).toBe(false);
    await expect(kerasZipImporter.open({ name: 'x.keras', bytes })).rejects.toMatchObject({ code: 'E_BAD_FORMAT' });
  });
  it('a missing model.weights.h5 is a typed error', async () => {
    const bytes = writeZip([{ name: 'config.json', data: enc.encode(JSON.stringify(dense)) }]);
    await expect(kerasZipImporter.open({ name: 'now.keras', bytes })).rejects.toMatchObject({ code: 'E_MISSING_WEIGHT' });
  });
});

describe('layers that carry code or unknown classes are refused', () => {
  const withLayer = (l: unknown) => ({ class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } }, l] } });
  const open = (json: unknown) => kerasJsonImporter.open({ name: 'm.json', bytes: enc.encode(JSON.stringify(json)) });
  it('Lambda, naming the layer and class; its code is never decoded', async () => {
    // A marshalled-bytecode payload: if anything decoded or ran it, this test would not reach expect.
    const lambda = { class_name: 'Lambda', config: { name: 'evil', function: ['4wEAAAAAAAAAAQAAAAMAAABDAAAAcw==', null, null], function_type: 'lambda', module: 'os' } };
    await expect(open(withLayer(lambda))).rejects.toMatchObject({ code: 'E_UNSUPPORTED_LAYER', where: { layer: 'evil' }, message: expect.stringContaining('Lambda') });
  });
  it('a custom class', async () => {
    await expect(open(withLayer({ class_name: 'MyAttention', config: { name: 'mine' } }))).rejects.toMatchObject({ code: 'E_UNSUPPORTED_LAYER', where: { layer: 'mine' }, message: expect.stringContaining('MyAttention') });
  });
  it('TensorFlowOpLayer / TFOpLambda', async () => {
    for (const cls of ['TensorFlowOpLayer', 'TFOpLambda']) {
      await expect(open(withLayer({ class_name: cls, config: { name: 'op', node_def: { op: 'Transpose' } } }))).rejects.toMatchObject({ code: 'E_UNSUPPORTED_LAYER', where: { layer: 'op' } });
    }
  });
  it('custom activation functions', async () => {
    await expect(open({ class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3], activation: 'my_act' } }] } })).rejects.toMatchObject({ code: 'E_UNSUPPORTED_LAYER', where: { layer: 'd' } });
  });
});

describe('malformed model JSON', () => {
  const lower = (json: unknown): Model => lowerKerasModel(normalizeModel(json, 'bad.json'), { file: 'bad.json' });
  it('not JSON / not an object', async () => {
    await expect(kerasJsonImporter.open({ name: 'x.json', bytes: enc.encode('{"class_name": ') })).rejects.toMatchObject({ code: 'E_BAD_FORMAT' });
    expect(() => lower([1, 2])).toThrow(expect.objectContaining({ code: 'E_BAD_FORMAT' }));
  });
  it('wrong field types name the layer', () => {
    expect(() => lower({ class_name: 'Sequential', config: { layers: [{ class_name: 'Conv2D', config: { name: 'c', filters: 2, kernel_size: 'big', batch_input_shape: [null, 4, 4, 1] } }] } })).toThrow(expect.objectContaining({ code: 'E_INVALID_ATTR', where: expect.objectContaining({ layer: 'c' }) }));
    expect(() => lower({ class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: -4, batch_input_shape: [null, 4] } }] } })).toThrow(expect.objectContaining({ code: 'E_INVALID_ATTR' }));
  });
  it('huge declared sizes are refused before allocating', () => {
    expect(() => lower({ class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 1 << 24, batch_input_shape: [null, 1 << 24] } }] } })).toThrow(expect.objectContaining({ code: 'E_TOO_LARGE' }));
  });
  it('architecture-only JSON cannot make us zero-fill gigabytes', () => {
    expect(() => lower({ class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 1 << 14, batch_input_shape: [null, 1 << 15] } }] } })).toThrow(expect.objectContaining({ code: 'E_TOO_LARGE', where: expect.objectContaining({ layer: 'd' }) }));
  });
  it('references to layers that do not exist, and cycles', () => {
    const fn = (layers: unknown[]) => ({ class_name: 'Model', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['b', 0, 0]] } });
    const input = { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 2] }, inbound_nodes: [] };
    expect(() => lower(fn([input, { class_name: 'Dense', name: 'b', config: { name: 'b', units: 2 }, inbound_nodes: [[['ghost', 0, 0, {}]]] }]))).toThrow(expect.objectContaining({ code: 'E_INVALID_GRAPH', where: expect.objectContaining({ layer: 'b' }) }));
    expect(() => lower(fn([input, { class_name: 'Add', name: 'a', config: { name: 'a' }, inbound_nodes: [[['b', 0, 0, {}], ['in', 0, 0, {}]]] }, { class_name: 'Add', name: 'b', config: { name: 'b' }, inbound_nodes: [[['a', 0, 0, {}], ['in', 0, 0, {}]]] }]))).toThrow(expect.objectContaining({ code: 'E_INVALID_GRAPH' }));
  });
  it('non-list inbound_nodes, too many layers, wrappers nested without end', () => {
    const fn = { class_name: 'Model', config: { name: 'm', layers: [{ class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 2] }, inbound_nodes: {} }], input_layers: [['in', 0, 0]], output_layers: [['in', 0, 0]] } };
    expect(() => lower(fn)).toThrow(expect.objectContaining({ code: 'E_BAD_FORMAT' }));
    const many = { class_name: 'Sequential', config: new Array(100_001).fill({ class_name: 'Dropout', config: { rate: 0 } }) };
    expect(() => lower(many)).toThrow(expect.objectContaining({ code: 'E_LIMIT' }));
    let inner: unknown = { class_name: 'Dense', config: { name: 'd', units: 1 } };
    for (let i = 0; i < 20; i++) inner = { class_name: 'TimeDistributed', config: { name: `t${i}`, layer: inner } };
    const deep = { class_name: 'Sequential', config: { layers: [{ ...(inner as object), config: { ...(inner as { config: object }).config, batch_input_shape: [null, ...new Array(21).fill(1), 2] } }] } };
    expect(() => lower(deep)).toThrow(expect.objectContaining({ code: 'E_LIMIT' }));
  });
  it('models nested without end', () => {
    let m: unknown = dense;
    for (let i = 0; i < 40; i++) m = { class_name: 'Sequential', config: { name: `s${i}`, layers: [m] } };
    expect(() => normalizeModel(m, 'deep.json')).toThrow(expect.objectContaining({ code: 'E_LIMIT' }));
  });
});

describe('tfjs: hostile manifests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rosetta-tfjs-bad-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const modelJson = (paths: string[], shape = [3, 2]) => ({
    modelTopology: dense,
    weightsManifest: [{ paths, weights: [{ name: 'dense/kernel', shape, dtype: 'float32' }, { name: 'dense/bias', shape: [2], dtype: 'float32' }] }],
  });
  const write = (name: string, json: unknown, shard?: [string, number]): string => {
    const sub = mkdtempSync(join(dir, 'm-'));
    writeFileSync(join(sub, name), JSON.stringify(json));
    if (shard) writeFileSync(join(sub, shard[0]), new Uint8Array(shard[1]));
    return join(sub, name);
  };
  it('a complete model loads (baseline; the shard has no extension)', async () => {
    const src = await openFile(write('model.json', modelJson(['shard']), ['shard', 32]));
    await expect(tfjsImporter.open(src)).resolves.toMatchObject({ kind: 'model' });
  });
  it('shards shorter than the manifest declares', async () => {
    const src = await openFile(write('model.json', modelJson(['shard']), ['shard', 20]));
    await expect(tfjsImporter.open(src)).rejects.toMatchObject({ code: 'E_TRUNCATED', where: { entry: 'shard' } });
  });
  it('a shard path escaping the model folder', async () => {
    const src = await openFile(write('model.json', modelJson(['../secret.bin'])));
    await expect(tfjsImporter.open(src)).rejects.toMatchObject({ code: 'E_PATH_ESCAPE' });
  });
  it('a declared shape far beyond any data is refused before reading shards', async () => {
    const src = await openFile(write('model.json', modelJson(['shard'], [1 << 20, 1 << 20]), ['shard', 32]));
    await expect(tfjsImporter.open(src)).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
  });
  it('weights whose shape does not fit the layer', async () => {
    const src = await openFile(write('model.json', modelJson(['shard'], [4, 2]), ['shard', 40]));
    await expect(tfjsImporter.open(src)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', where: { layer: 'dense', entry: 'dense/kernel' } });
  });
});
