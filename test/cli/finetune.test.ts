/**
 * `rosetta finetune` end to end, in-process through `main`: an ONNX model
 * (fixtures/models/mlp.onnx, torch 1.13 export), a PyTorch state dict bound to its ONNX
 * architecture (fixtures/convert/conv_bn_dw.{pt,onnx}, make_fixtures.py) and a Keras file from the
 * third-party corpus each train with a falling loss and write a file that re-imports. Training
 * data: fixtures/train/make_data.py (numpy; learnable labels from a fixed random teacher — the
 * assertions are about the loss falling and about names/bits, not about golden numbers).
 * `--lr 0` round trips prove the inverse of the weight binding is exact (bit-identical tensors).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bindWeights } from '../../src/convert/binding.js';
import { Progress } from '../../src/cli/progress.js';
import { importFile } from '../../src/importers/index.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { writeNpzFile } from '../../src/node/model-io.js';
import { seededRandom } from '../../src/runtime/session.js';
import { HAS_CORPUS, PROJECT_ROOT, corpusPath } from '../helpers/corpus.js';
import { seedCnn } from '../keras/models.js';
import '../../src/node/keras.js'; // Node file system for Model.saveWeights(path)

const fx = (...p: string[]): string => join(PROJECT_ROOT, 'fixtures', ...p);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'rosetta-finetune-'));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

async function open(path: string): Promise<Awaited<ReturnType<typeof importFile>>> {
  return importFile({ name: path, bytes: new Uint8Array(readFileSync(path)) });
}

async function weights(path: string): Promise<Map<string, Tensor>> {
  const r = await open(path);
  if (r.kind !== 'weights') throw new Error(`${path}: expected weights`);
  return r.weights.tensors;
}

/** Rows of a --log CSV as objects. */
function readLog(path: string): { epoch: number; step: number; loss: number }[] {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  expect(header!.split(',').slice(0, 4)).toEqual(['epoch', 'step', 'global_step', 'loss']);
  return rows.map((r) => {
    const [epoch, step, , loss] = r.split(',').map(Number);
    return { epoch: epoch!, step: step!, loss: loss! };
  });
}

/** Mean step loss of an epoch (1-based). */
const epochMean = (log: ReturnType<typeof readLog>, e: number): number => {
  const xs = log.filter((r) => r.epoch === e).map((r) => r.loss);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};

describe('rosetta finetune', () => {
  it('ONNX MLP: loss falls, --log has one row per step, the .onnx re-imports with new weights, .safetensors keeps the ONNX names', async () => {
    const dir = tmp();
    const out = join(dir, 'mlp.tuned.onnx');
    const log = join(dir, 'log.csv');
    const common = ['--data', fx('train', 'mlp.train.npz'), '--epochs', '4', '--batch-size', '16', '--lr', '0.001', '--optimizer', 'adam', '--loss', 'sparse_categorical_crossentropy'];
    const r = await cli('finetune', fx('models', 'mlp.onnx'), ...common, '--val', fx('train', 'mlp.val.npz'), '--log', log, '--out', out);
    expect(r.err).not.toContain('E_');
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('\r'); // not a terminal: plain lines
    expect(r.err).toMatch(/epoch 1\/4 step 1\/4 loss \d+\.\d+ accuracy \d\.\d+ ETA /);
    expect(r.err).toMatch(/epoch 4\/4 done in .* - loss \d+\.\d+ - accuracy .* - val_loss \d+\.\d+ - val_accuracy/);
    expect(r.out).toMatch(/written\s+.*mlp\.tuned\.onnx \(onnx, whole model\)/);
    const rows = readLog(log);
    expect(rows).toHaveLength(4 * 4); // 64 samples / 16 per batch × 4 epochs
    expect(rows.map((x) => x.step)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    expect(epochMean(rows, 4)).toBeLessThan(epochMean(rows, 1) * 0.9);

    const before = await open(fx('models', 'mlp.onnx'));
    const after = await open(out);
    if (before.kind !== 'model' || after.kind !== 'model') throw new Error('expected models');
    const names = [...before.model.graph.initializers].filter(([, t]) => t.dtype === 'float32').map(([k]) => k);
    expect(names.length).toBeGreaterThan(0);
    for (const k of names) {
      const a = before.model.graph.initializers.get(k)!;
      const b = after.model.graph.initializers.get(k)!;
      expect(b.shape).toEqual(a.shape);
      expect(tensorsBitEqual(a, b), `${k} changed`).toBe(false);
    }

    const st = join(dir, 'mlp.tuned.safetensors');
    const s = await cli('finetune', fx('models', 'mlp.onnx'), ...common, '--epochs', '1', '--out', st);
    expect(s.code).toBe(0);
    const tuned = await weights(st);
    expect([...tuned.keys()].sort()).toEqual([...names].sort());
    for (const k of names) expect(tuned.get(k)!.shape).toEqual(before.model.graph.initializers.get(k)!.shape);
  }, 120_000);

  it('.pt + --arch: loss falls, the .pt comes back with its PyTorch keys, --freeze leaves frozen tensors bit-identical', async () => {
    const dir = tmp();
    const out = join(dir, 'tuned.pt');
    const log = join(dir, 'log.csv');
    const r = await cli('finetune', fx('convert', 'conv_bn_dw.pt'), '--arch', fx('convert', 'conv_bn_dw.onnx'), '--data', fx('train', 'conv_bn_dw.train.npz'), '--epochs', '4', '--batch-size', '8', '--lr', '0.01', '--optimizer', 'adam', '--loss', 'cross_entropy', '--freeze', '^(conv|fc)\\.weight$', '--seed', '3', '--log', log, '--out', out);
    expect(r.err).not.toContain('E_');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/2 frozen/);
    expect(r.out).toMatch(/source weight names/);
    const rows = readLog(log);
    expect(rows).toHaveLength(6 * 4);
    expect(epochMean(rows, 4)).toBeLessThan(epochMean(rows, 1) * 0.9);

    const src = await weights(fx('convert', 'conv_bn_dw.pt'));
    const got = await weights(out);
    expect([...got.keys()]).toEqual([...src.keys()]);
    for (const [k, a] of src) {
      const b = got.get(k)!;
      expect(b.dtype, k).toBe(a.dtype);
      expect(b.shape, k).toEqual(a.shape);
      const same = tensorsBitEqual(a, b);
      if (k === 'conv.weight' || k === 'fc.weight') expect(same, `${k} must be untouched`).toBe(true);
      else if (k.endsWith('num_batches_tracked')) expect(b.get(0), `${k} counts the ${rows.length} training batches, as in PyTorch`).toBe(a.get(0) + rows.length);
      else expect(same, `${k} must be tuned`).toBe(false);
    }
  }, 120_000);

  it('--lr 0 writes the source tensors back bit-identically (the inverse binding is exact), as .pt and .safetensors', async () => {
    const dir = tmp();
    const src = await weights(fx('convert', 'conv_bn_dw.pt'));
    for (const name of ['same.pt', 'same.safetensors']) {
      const out = join(dir, name);
      // lr 0 leaves every weight as it was; BatchNorm statistics (and their batch counters) still
      // move in training mode, so they are left out of the comparison.
      const r = await cli('finetune', fx('convert', 'conv_bn_dw.pt'), '--arch', fx('convert', 'conv_bn_dw.onnx'), '--data', fx('train', 'conv_bn_dw.train.npz'), '--epochs', '1', '--batch-size', '48', '--lr', '0', '--optimizer', 'sgd', '--loss', 'cross_entropy', '--out', out);
      expect(r.code, r.err).toBe(0);
      const got = await weights(out);
      expect([...got.keys()].sort()).toEqual([...src.keys()].sort());
      for (const [k, a] of src) if (!k.includes('running_') && !k.endsWith('num_batches_tracked')) expect(tensorsBitEqual(a, got.get(k)!), k).toBe(true);
    }
  }, 120_000);

  it('Keras weights bound to a PyTorch-exported ONNX architecture (HWIO, Dense and Flatten transforms): tuned weights go back to the Keras names and layouts exactly', async () => {
    const dir = tmp();
    const src = join(dir, 'cnn.weights.h5');
    await seedCnn(1).saveWeights(src);
    const data = join(dir, 'd.npz');
    const rand = seededRandom(9);
    await writeNpzFile(data, new Map([['x', new Tensor('float32', [8, 1, 28, 28], Float32Array.from({ length: 8 * 784 }, () => rand()))], ['y', Tensor.from('float32', [8], [0, 1, 2, 3, 4, 5, 6, 7])]]));
    const arch = fx('convert', 'image_classifier.onnx');
    const args = ['--arch', arch, '--data', data, '--epochs', '2', '--batch-size', '4', '--lr', '0.01', '--optimizer', 'adam', '--loss', 'cross_entropy', '--seed', '1'];
    const asModel = await cli('finetune', src, ...args, '--out', join(dir, 'tuned.onnx'));
    expect(asModel.code, asModel.err).toBe(0);
    expect(asModel.out).toMatch(/binding: \d+ applied, [1-9]\d* transformed/);
    const asWeights = await cli('finetune', src, ...args, '--out', join(dir, 'tuned.weights.h5'));
    expect(asWeights.code, asWeights.err).toBe(0);
    const before = await weights(src);
    const back = await weights(join(dir, 'tuned.weights.h5'));
    expect([...back.keys()]).toEqual([...before.keys()]);
    for (const [k, t] of before) {
      expect(back.get(k)!.shape, k).toEqual(t.shape);
      expect(tensorsBitEqual(back.get(k)!, t), `${k} tuned`).toBe(false);
    }
    // Binding the written Keras weights again gives exactly the tuned ONNX model's tensors.
    const archModel = await open(arch);
    const tuned = await open(join(dir, 'tuned.onnx'));
    if (archModel.kind !== 'model' || tuned.kind !== 'model') throw new Error('expected models');
    const rebound = bindWeights(archModel.model, { format: 'keras-h5', tensors: back, metadata: {}, notes: [] }).model;
    for (const [k, t] of tuned.model.graph.initializers) if (t.dtype === 'float32') expect(tensorsBitEqual(rebound.graph.initializers.get(k)!, t), k).toBe(true);
  }, 120_000);

  it('bad invocations: missing y, bad regex, a regex matching nothing, a weights file without --arch', async () => {
    const dir = tmp();
    const noY = join(dir, 'noy.npz');
    await writeNpzFile(noY, new Map([['x', new Tensor('float32', [2, 784])]]));
    const base = ['--epochs', '1', '--batch-size', '2', '--lr', '0.1', '--loss', 'mse', '--out', join(dir, 'o.onnx')];
    const a = await cli('finetune', fx('models', 'mlp.onnx'), '--data', noY, ...base);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/^E_MISSING_INPUT: .*no array 'y'/);
    const b = await cli('finetune', fx('models', 'mlp.onnx'), '--data', fx('train', 'mlp.train.npz'), '--freeze', '([', ...base);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^E_USAGE: --freeze/);
    const c = await cli('finetune', fx('models', 'mlp.onnx'), '--data', fx('train', 'mlp.train.npz'), '--freeze', 'nothing-like-this', ...base);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/matches no parameter/);
    const d = await cli('finetune', fx('convert', 'conv_bn_dw.pt'), '--data', fx('train', 'conv_bn_dw.train.npz'), ...base);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/weights only .*--arch/);
    const e = await cli('finetune', fx('models', 'mlp.onnx'), '--data', fx('train', 'mlp.train.npz'), '--epochs', '1', '--batch-size', '2', '--lr', '0.1', '--loss', 'nope', '--out', join(dir, 'o.onnx'));
    expect(e.code).toBe(2);
  }, 60_000);

  it('progress on a terminal redraws one line with a bar and ETA', () => {
    let err = '';
    let t = 0;
    const p = new Progress({ stdout: () => {}, stderr: (s) => void (err += s) }, { epochs: 2, stepsPerEpoch: 2, metricName: 'mae', tty: true, width: 4, now: () => (t += 500) });
    p.step({ epoch: 0, step: 0, loss: 1.5, metric: 0.25 });
    expect(err).toMatch(/^\repoch 1\/2 step 1\/2 \[█···\] loss 1\.5000 mae 0\.2500 ETA \d+\.\ds$/);
    p.step({ epoch: 0, step: 1, loss: 0.5 });
    const logs = p.epochEnd(0, { val_loss: 0.75 });
    expect(logs).toEqual({ loss: 1, mae: 0.125, val_loss: 0.75 });
    expect(err.endsWith('\n')).toBe(true);
  });
});

describe.skipIf(!HAS_CORPUS)('rosetta finetune on a Keras corpus model (skipped: ../shared/corpus absent)', () => {
  it('tfkeras_mlp_0.h5 (tf.keras 2.2.4): loss falls and the .keras output re-imports', async () => {
    const dir = tmp();
    const rand = seededRandom(5);
    const n = 48;
    const x = Float32Array.from({ length: n * 3 }, () => rand() * 2 - 1);
    // Targets in (0, 1) for the sigmoid outputs: a fixed smooth function of the inputs.
    const y = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) for (let j = 0; j < 6; j++) y[i * 6 + j] = 1 / (1 + Math.exp(-(2 * x[i * 3 + (j % 3)]! - (j < 3 ? 0.5 : -0.5))));
    const data = join(dir, 'train.npz');
    await writeNpzFile(data, new Map([['x', new Tensor('float32', [n, 3], x)], ['y', new Tensor('float32', [n, 6], y)]]));
    const out = join(dir, 'tuned.keras');
    const log = join(dir, 'log.csv');
    const r = await cli('finetune', corpusPath('keras', 'tfkeras_mlp_0.h5'), '--data', data, '--epochs', '15', '--batch-size', '8', '--lr', '0.05', '--optimizer', 'adam', '--loss', 'mse', '--log', log, '--out', out);
    expect(r.err).not.toContain('E_');
    expect(r.code).toBe(0);
    const rows = readLog(log);
    expect(rows).toHaveLength(15 * 6);
    expect(epochMean(rows, 15)).toBeLessThan(epochMean(rows, 1) * 0.8);
    const again = await open(out);
    expect(again.kind).toBe('model');

    // `.weights.h5` from a model source: Keras names and Keras layout (Dense kernel [in, out]).
    const wh5 = join(dir, 'tuned.weights.h5');
    const w = await cli('finetune', corpusPath('keras', 'tfkeras_mlp_0.h5'), '--data', data, '--epochs', '1', '--batch-size', '8', '--lr', '0.05', '--loss', 'mse', '--out', wh5);
    expect(w.code, w.err).toBe(0);
    const kw = await weights(wh5);
    const kernel = [...kw].find(([k, t]) => k.includes('dense') && t.shape.length === 2);
    expect(kernel?.[1].shape).toEqual([3, 6]);
  }, 120_000);
});
