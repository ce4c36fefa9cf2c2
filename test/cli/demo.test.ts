/**
 * `rosetta demo` end to end through `main`: both seed programs run, the printed parity table has
 * one row per format (.keras, .onnx, .safetensors) within the demo's tolerance, the files are kept
 * with `--out`, the house-price slope lands on PyTorch 1.13's (fixtures/pytorch/manifest.json,
 * written by fixtures/pytorch/make_fixtures.py: 0.1996 from the same data), both loss curves fall,
 * and the exported .onnx, run by onnxruntime-node (the oracle), gives the outputs the reloaded
 * .keras model gives.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DEMO_ATOL, syntheticDigits } from '../../src/cli/demo.js';
import { runOnce } from '../../src/cli/compare.js';
import { main } from '../../src/cli/main.js';
import { toFloat32Array, type Tensor } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/node/model-io.js';
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'pytorch', 'manifest.json'), 'utf8')) as { models: { house_price: { final_slope: number } } };

it('rosetta demo: house prices Keras → .pt → PyTorch-style, CNN trained and reloaded from three formats within tolerance', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rosetta-demo-test-'));
  let out = '';
  let err = '';
  const code = await main(['demo', '--out', dir], { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  expect(err).toBe('');
  expect(code).toBe(0);
  expect(out).toMatch(/demo: OK in \d+\.\ds/);

  // Parity table: one row per format, each max abs error within the tolerance.
  const rows = [...out.matchAll(/^(keras|onnx|safetensors)\s+(\S+)\s+[\d.]+ \w+\s+(\S+)\s+(yes|NO.*)$/gm)];
  expect(rows.map((r) => r[1])).toEqual(['keras', 'onnx', 'safetensors']);
  for (const r of rows) {
    expect(Number(r[3]), r[1]).toBeLessThanOrEqual(DEMO_ATOL);
    expect(r[4]).toBe('yes');
    expect(existsSync(r[2]!)).toBe(true);
  }

  // House prices: Keras-style loss falls, the slope is PyTorch's, PyTorch-style training continues.
  const k = /Keras-style .*loss ([\d.]+) → ([\d.]+), slope ([\d.]+)/.exec(out)!;
  expect(Number(k[2])).toBeLessThan(Number(k[1]) / 1000);
  expect(Math.abs(Number(k[3]) - manifest.models.house_price.final_slope)).toBeLessThan(0.005);
  expect(out).toMatch(/reloaded\s+SimpleLinearModel ← linear\.weight ← \S+, linear\.bias ← \S+/);
  const t = /PyTorch-style 200 more epochs .*loss ([\d.]+) → ([\d.]+)/.exec(out)!;
  expect(Number(t[2])).toBeLessThan(Number(t[1]));
  expect(existsSync(join(dir, 'house_price.pt'))).toBe(true);

  // CNN: the seed's 5 epochs; the epoch loss falls and the model learns the synthetic classes.
  const m = /trained\s+5 epochs .*: epoch loss ([\d. →]+); training accuracy ([\d.]+)%/.exec(out)!;
  const losses = m[1]!.trim().split(' → ').map(Number);
  expect(losses.length).toBe(5);
  expect(losses.at(-1)!).toBeLessThan(losses[0]! / 2);
  expect(Number(m[2])).toBeGreaterThan(50); // chance is 10%

  // The exported ONNX in onnxruntime-node agrees with the reloaded .keras model.
  const ort = await loadOrt().catch(() => undefined);
  if (!ort) return void console.warn('onnxruntime-node unavailable: ONNX oracle check skipped');
  const x = syntheticDigits(8, 2).x;
  const onnxPath = join(dir, 'image_classifier.onnx');
  const sess = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1 });
  const res = await sess.run({ [sess.inputNames[0]!]: toOrtTensor(ort, x) });
  const oracle = fromOrtTensor(res[sess.outputNames[0]!]!);
  const km = await loadModel(join(dir, 'image_classifier.keras'));
  const kin = km.graph.inputs[0]!;
  const shape = kin.type?.kind === 'tensor' ? kin.type.shape : undefined;
  const feed = shape?.[3] === 1 ? x.reshape([8, 28, 28, 1]) : x;
  const kout = Object.values(await runOnce(km.graph, { [kin.name]: feed }))[0] as Tensor;
  const a = toFloat32Array(oracle);
  const b = toFloat32Array(kout);
  expect(b.length).toBe(a.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(a[i]!));
}, 120_000);
