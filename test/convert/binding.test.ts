/**
 * Weight binding (src/convert/binding.ts) on the PyTorch 1.13 fixtures of fixtures/convert
 * (make_fixtures.py): weights from either naming world bound to the PyTorch-exported ONNX
 * architecture must reproduce PyTorch's recorded outputs (rtol 1e-4, atol 1e-5). The Keras-named
 * weight sets are built here from the PyTorch state dict by the documented storage formulas
 * (Dense kernel[i][o] = weight[o][i], rows in (h, w, c) order after a Flatten; conv kernel[h][w][i][o] = weight[o][i][h][w]; depthwise
 * kernel[h][w][c][m] = weight[c·M+m][0][h][w]; GRU blocks z,r,h = PyTorch blocks 1,0,2,
 * transposed), written as plain index loops independent of the binder's own helpers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindWeights, parseMapRule, type BindingReport } from '../../src/convert/binding.js';
import { readNpz } from '../../src/formats/npy.js';
import { getExporter } from '../../src/exporters/index.js';
import { importFile } from '../../src/importers/index.js';
import type { WeightSet } from '../../src/importers/types.js';
import { isRosettaError } from '../../src/ir/errors.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session, seededRandom } from '../../src/runtime/session.js';
import { HAS_CORPUS, PROJECT_ROOT, readCorpus } from '../helpers/corpus.js';

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');
const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8')) as { models: Record<string, { weights: string }>; extra: Record<string, { weights: string }> };

async function open(path: string) {
  const bytes = new Uint8Array(readFileSync(path));
  return importFile({ name: path, bytes });
}

async function fixture(name: string): Promise<{ arch: Model; weights: WeightSet }> {
  const a = await open(join(FIX, `${name}.onnx`));
  const w = await open(join(PROJECT_ROOT, (manifest.models[name] ?? manifest.extra[name])!.weights));
  if (a.kind !== 'model' || w.kind !== 'weights') throw new Error('fixture kinds');
  for (const t of a.model.graph.initializers.values()) if (t.dtype === 'float32') (t.data as Float32Array).fill(0);
  return { arch: a.model, weights: w.weights };
}

async function expectPyTorchOutputs(name: string, model: Model): Promise<void> {
  const ins = readNpz(new Uint8Array(readFileSync(join(FIX, `${name}.inputs.npz`))), 'inputs');
  const want = readNpz(new Uint8Array(readFileSync(join(FIX, `${name}.outputs.npz`))), 'outputs').get('output')!;
  const s = await Session.create(model);
  const got = (await s.run(Object.fromEntries(ins))).outputs[model.graph.outputs[0]!.name] as Tensor;
  const a = got.toNumbers();
  const b = want.toNumbers();
  expect(a.length).toBe(b.length);
  const bad = b.filter((v, i) => !(Math.abs(a[i]! - v) <= 1e-5 + 1e-4 * Math.abs(v))).length;
  expect(bad, `${name}: elements beyond tolerance`).toBe(0);
}

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/** Dense kernel [in, out] from a Linear weight [out, in]. */
function denseKernel(w: Tensor): Tensor {
  const [o, i] = w.shape as [number, number];
  const out = new Tensor('float32', [i, o]);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) f32(out)[b * o + a] = f32(w)[a * i + b]!;
  return out;
}

/**
 * What Keras stores for the Dense after Flatten of a channels-last [H, W, C] map: kernel rows in
 * (h, w, c) order, from a Linear weight whose columns are in PyTorch's (c, h, w) order.
 */
function denseKernelAfterFlatten(w: Tensor, C: number, H: number, W: number): Tensor {
  const [o, i] = w.shape as [number, number];
  const out = new Tensor('float32', [i, o]);
  for (let a = 0; a < o; a++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) f32(out)[((h * W + x) * C + c) * o + a] = f32(w)[a * i + (c * H + h) * W + x]!;
  return out;
}

/** Conv kernel HWIO from OIHW. */
function hwio(w: Tensor): Tensor {
  const [O, I, H, W] = w.shape as [number, number, number, number];
  const out = new Tensor('float32', [H, W, I, O]);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) f32(out)[((h * W + x) * I + i) * O + o] = f32(w)[((o * I + i) * H + h) * W + x]!;
  return out;
}

/** Depthwise kernel [H, W, C, M] from [C·M, 1, H, W]. */
function depthwise(w: Tensor, C: number): Tensor {
  const [CM, , H, W] = w.shape as [number, number, number, number];
  const M = CM / C;
  const out = new Tensor('float32', [H, W, C, M]);
  for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) f32(out)[((h * W + x) * C + c) * M + m] = f32(w)[((c * M + m) * H + h) * W + x]!;
  return out;
}

/** PyTorch GRU [3H, in] (r,z,n) → Keras [in, 3H] (z,r,h). */
function gruKernel(w: Tensor): Tensor {
  const [G, I] = w.shape as [number, number];
  const H = G / 3;
  const from = [1, 0, 2];
  const out = new Tensor('float32', [I, G]);
  for (let k = 0; k < 3; k++) for (let h = 0; h < H; h++) for (let i = 0; i < I; i++) f32(out)[i * G + k * H + h] = f32(w)[(from[k]! * H + h) * I + i]!;
  return out;
}

function gruBias(bih: Tensor, bhh: Tensor): Tensor {
  const G = bih.size;
  const H = G / 3;
  const from = [1, 0, 2];
  const out = new Tensor('float32', [2, G]);
  for (let k = 0; k < 3; k++) for (let h = 0; h < H; h++) {
    f32(out)[k * H + h] = f32(bih)[from[k]! * H + h]!;
    f32(out)[G + k * H + h] = f32(bhh)[from[k]! * H + h]!;
  }
  return out;
}

function ws(tensors: [string, Tensor][]): WeightSet {
  return { format: 'keras-h5', tensors: new Map(tensors), metadata: {}, notes: [] };
}

describe('binding PyTorch state dicts to their ONNX architecture', () => {
  for (const name of Object.keys(manifest.models)) {
    it(`${name}: every parameter bound, outputs match PyTorch`, async () => {
      const { arch, weights } = await fixture(name);
      const { model, report } = bindWeights(arch, weights);
      expect(report.missing).toEqual([]);
      expect(report.unused.every((u) => u.source.endsWith('num_batches_tracked'))).toBe(true);
      await expectPyTorchOutputs(name, model);
    });
  }

  it('rnn_model: LSTM/GRU tensors are transformed (gate order, stacked directions) and recorded', async () => {
    const { arch, weights } = await fixture('rnn_model');
    const { model, report } = bindWeights(arch, weights);
    expect(report.transformed.length).toBe(9);
    expect(report.transformed.find((t) => t.sources.includes('lstm.weight_ih_l0_reverse'))?.transform).toMatch(/i,f,g,o.*i,o,f,c.*_reverse stacked/);
    expect(report.transformed.find((t) => t.sources.includes('gru.weight_hh_l1'))?.transform).toMatch(/r,z,n.*z,r,h/);
    expect(model.rewrites.filter((r) => r.kind === 'weight-binding').length).toBe(9);
  });

  it('binds structurally when no architecture name matches (initializers renamed)', async () => {
    const { arch, weights } = await fixture('image_classifier');
    const g = arch.graph;
    const rename = new Map([...g.initializers.keys()].map((k, i) => [k, `param_${i}`]));
    g.initializers = new Map([...g.initializers].map(([k, t]) => [rename.get(k)!, t]));
    for (const n of g.nodes) n.inputs = n.inputs.map((x) => rename.get(x) ?? x);
    const { model, report } = bindWeights(arch, weights);
    expect(report.applied.map((a) => `${a.source}→${a.target}`)).toContain('features.3.weight→param_2');
    await expectPyTorchOutputs('image_classifier', model);
  });
});

describe('binding Keras-named weights to a PyTorch architecture', () => {
  it('conv_bn_dw: HWIO kernels, depthwise kernel, BatchNorm gamma/beta/moving_*, Dense [in,out]', async () => {
    const { arch, weights } = await fixture('conv_bn_dw');
    const t = (k: string) => weights.tensors.get(k)!;
    const keras = ws([
      ['conv2d/conv2d/kernel:0', hwio(t('conv.weight'))],
      ['batch_normalization/batch_normalization/gamma:0', t('bn.weight')],
      ['batch_normalization/batch_normalization/beta:0', t('bn.bias')],
      ['batch_normalization/batch_normalization/moving_mean:0', t('bn.running_mean')],
      ['batch_normalization/batch_normalization/moving_variance:0', t('bn.running_var')],
      ['depthwise_conv2d/depthwise_conv2d/depthwise_kernel:0', depthwise(t('dw.weight'), 8)],
      ['depthwise_conv2d/depthwise_conv2d/bias:0', t('dw.bias')],
      ['batch_normalization_1/batch_normalization_1/gamma:0', t('bn2.weight')],
      ['batch_normalization_1/batch_normalization_1/beta:0', t('bn2.bias')],
      ['batch_normalization_1/batch_normalization_1/moving_mean:0', t('bn2.running_mean')],
      ['batch_normalization_1/batch_normalization_1/moving_variance:0', t('bn2.running_var')],
      ['conv2d_1/conv2d_1/kernel:0', hwio(t('pw.weight'))],
      ['conv2d_1/conv2d_1/bias:0', t('pw.bias')],
      ['dense/dense/kernel:0', denseKernelAfterFlatten(t('fc.weight'), 4, 4, 4)],
      ['dense/dense/bias:0', t('fc.bias')],
    ]);
    const { model, report } = bindWeights(arch, keras);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    const tr = new Map(report.transformed.map((x) => [x.sources[0], x.transform]));
    expect(tr.get('conv2d/conv2d/kernel:0')).toBe('HWIO → OIHW');
    expect(tr.get('depthwise_conv2d/depthwise_conv2d/depthwise_kernel:0')).toMatch(/depthwise/);
    expect(tr.get('dense/dense/kernel:0')).toBe('Dense [in, out] → [out, in]; Flatten→Dense rows (h, w, c) → (c, h, w) for a [4, 4, 4] map');
    expect(report.applied.find((a) => a.source.endsWith('moving_variance:0'))?.target).toBe('bn.running_var');
    await expectPyTorchOutputs('conv_bn_dw', model);
  });

  it('rnn_model: mixed worlds — Keras GRU (reset_after, [2,3H] bias), LayerNormalization and Dense next to PyTorch LSTM keys', async () => {
    const { arch, weights } = await fixture('rnn_model');
    const t = (k: string) => weights.tensors.get(k)!;
    const keep = [...weights.tensors].filter(([k]) => k.startsWith('emb.') || k.startsWith('lstm.'));
    const keras = ws([
      ...keep,
      ['gru/gru_cell/kernel:0', gruKernel(t('gru.weight_ih_l0'))],
      ['gru/gru_cell/recurrent_kernel:0', gruKernel(t('gru.weight_hh_l0'))],
      ['gru/gru_cell/bias:0', gruBias(t('gru.bias_ih_l0'), t('gru.bias_hh_l0'))],
      ['gru_1/gru_cell_1/kernel:0', gruKernel(t('gru.weight_ih_l1'))],
      ['gru_1/gru_cell_1/recurrent_kernel:0', gruKernel(t('gru.weight_hh_l1'))],
      ['gru_1/gru_cell_1/bias:0', gruBias(t('gru.bias_ih_l1'), t('gru.bias_hh_l1'))],
      ['layer_normalization/gamma:0', t('norm.weight')],
      ['layer_normalization/beta:0', t('norm.bias')],
      ['dense/kernel:0', denseKernel(t('head.weight'))],
      ['dense/bias:0', t('head.bias')],
    ]);
    const { model, report } = bindWeights(arch, keras);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    expect(report.transformed.find((x) => x.sources[0] === 'gru_1/gru_cell_1/bias:0')?.transform).toMatch(/\[2, 3H\]/);
    await expectPyTorchOutputs('rnn_model', model);
  });
});

describe('MultiheadAttention: packed in_proj ⇄ separate Q/K/V', () => {
  /** Keras MultiHeadAttention storage from PyTorch's packed weights (E = 8, H = 2, D = 4). */
  function kerasMha(sd: Map<string, Tensor>): [string, Tensor][] {
    const E = 8;
    const H = 2;
    const D = 4;
    const w = f32(sd.get('attn.in_proj_weight')!);
    const b = f32(sd.get('attn.in_proj_bias')!);
    const out: [string, Tensor][] = [];
    ['query', 'key', 'value'].forEach((part, p) => {
      const k = new Tensor('float32', [E, H, D]);
      for (let i = 0; i < E; i++) for (let j = 0; j < H * D; j++) f32(k)[i * H * D + j] = w[(p * E + j) * E + i]!;
      out.push([`multi_head_attention/${part}/kernel:0`, k]);
      out.push([`multi_head_attention/${part}/bias:0`, new Tensor('float32', [H, D], b.slice(p * E, (p + 1) * E))]);
    });
    const ow = f32(sd.get('attn.out_proj.weight')!);
    const ok = new Tensor('float32', [H, D, E]);
    for (let j = 0; j < H * D; j++) for (let o = 0; o < E; o++) f32(ok)[j * E + o] = ow[o * E + j]!;
    out.push(['multi_head_attention/attention_output/kernel:0', ok], ['multi_head_attention/attention_output/bias:0', sd.get('attn.out_proj.bias')!]);
    out.push(['layer_normalization/gamma:0', sd.get('norm.weight')!], ['layer_normalization/beta:0', sd.get('norm.bias')!]);
    return out;
  }

  it('PyTorch attn.in_proj_weight binds to the exported packed MatMul; a merged (Identity) parameter is untied', async () => {
    const { arch, weights } = await fixture('attn_model');
    const { model, report } = bindWeights(arch, weights);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    expect(report.transformed.find((t) => t.sources[0] === 'attn.in_proj_weight')?.transform).toBe('packed in_proj (q, k, v rows) Linear [out, in] → [in, out]');
    expect(model.rewrites.some((r) => r.kind === 'untied-parameter' && r.detail.startsWith('norm.bias'))).toBe(true);
    await expectPyTorchOutputs('attn_model', model);
  });

  it('Keras query/key/value/attention_output kernels merge into the packed projection', async () => {
    const { arch, weights } = await fixture('attn_model');
    const { model, report } = bindWeights(arch, ws(kerasMha(weights.tensors)));
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    const packed = report.transformed.find((t) => t.sources.includes('multi_head_attention/key/kernel:0'));
    expect(packed?.sources).toEqual(['multi_head_attention/query/kernel:0', 'multi_head_attention/key/kernel:0', 'multi_head_attention/value/kernel:0']);
    expect(packed?.transform).toMatch(/query \| key \| value kernels \[E, H, D\] → one packed projection/);
    await expectPyTorchOutputs('attn_model', model);
  });
});

describe('MultiheadAttention: Keras 3 variable names onto the packed projection', () => {
  it('layers/multi_head_attention/{query,key,value,output}_dense/vars/N merge into in_proj; outputs match PyTorch', async () => {
    const { arch, weights } = await fixture('attn_model');
    const sd = weights.tensors;
    const E = 8;
    const H = 2;
    const D = 4;
    const w = f32(sd.get('attn.in_proj_weight')!);
    const b = f32(sd.get('attn.in_proj_bias')!);
    const out: [string, Tensor][] = [];
    ['query', 'key', 'value'].forEach((part, p) => {
      const k = new Tensor('float32', [E, H, D]);
      for (let i = 0; i < E; i++) for (let j = 0; j < H * D; j++) f32(k)[i * H * D + j] = w[(p * E + j) * E + i]!;
      out.push([`layers/multi_head_attention/${part}_dense/vars/0`, k], [`layers/multi_head_attention/${part}_dense/vars/1`, new Tensor('float32', [H, D], b.slice(p * E, (p + 1) * E))]);
    });
    const ow = f32(sd.get('attn.out_proj.weight')!);
    const ok = new Tensor('float32', [H, D, E]);
    for (let j = 0; j < H * D; j++) for (let o = 0; o < E; o++) f32(ok)[j * E + o] = ow[o * E + j]!;
    out.push(['layers/multi_head_attention/output_dense/vars/0', ok], ['layers/multi_head_attention/output_dense/vars/1', sd.get('attn.out_proj.bias')!]);
    out.push(['layers/layer_normalization/vars/0', sd.get('norm.weight')!], ['layers/layer_normalization/vars/1', sd.get('norm.bias')!]);
    const { model, report } = bindWeights(arch, ws(out));
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    expect(report.transformed.find((t) => t.sources.includes('layers/multi_head_attention/key_dense/vars/0'))?.transform).toMatch(/query \| key \| value kernels/);
    await expectPyTorchOutputs('attn_model', model);
  });
});

describe.skipIf(!HAS_CORPUS)('binding a real Keras weights-only file (corpus)', () => {
  it('simple_lstm_tf_keras_2_weights.h5 onto the architecture of simple_lstm_tf_keras_2_model.h5 gives that model back', async () => {
    const open = async (f: string) => importFile({ name: f, bytes: readCorpus('keras', f) });
    const full = await open('simple_lstm_tf_keras_2_model.h5');
    const arch = await open('simple_lstm_tf_keras_2_model.h5');
    const weights = await open('simple_lstm_tf_keras_2_weights.h5');
    if (full.kind !== 'model' || arch.kind !== 'model' || weights.kind !== 'weights') throw new Error('corpus kinds');
    for (const t of arch.model.graph.initializers.values()) if (t.dtype === 'float32') (t.data as Float32Array).fill(0);
    const { model, report } = bindWeights(arch.model, weights.weights);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    expect(report.transformed.map((x) => x.transform)).toEqual([
      'Keras (i,f,c,o) → ONNX (i,o,f,c), kernel transposed',
      'Keras (i,f,c,o) → ONNX (i,o,f,c), kernel transposed',
      'bias (i,f,c,o) → (i,o,f,c); recurrent bias zero',
      'Dense [in, out] → [out, in]',
    ]);
    // every parameter equals what the Keras importer read from the full model file
    for (const [name, t] of full.model.graph.initializers) {
      if (t.dtype !== 'float32') continue;
      expect(Array.from(model.graph.initializers.get(name)!.data as Float32Array), name).toEqual(Array.from(t.data as Float32Array));
    }
  });
});

describe.skipIf(!HAS_CORPUS)('binding Keras 3 .weights.h5 (variables by index, layers in alphabetical order)', () => {
  for (const f of ['cnn_batch_norm.h5', 'tfkeras_cnn2d_100.h5', 'simple_lstm_tf_keras_2_model.h5', 'embedding_lstm_tensorflow_2.h5']) {
    it(`${f}: its .weights.h5 (written by the Keras exporter) binds back onto its architecture exactly`, async () => {
      const open = async () => importFile({ name: f, bytes: readCorpus('keras', f) });
      const full = await open();
      const arch = await open();
      if (full.kind !== 'model' || arch.kind !== 'model') throw new Error('corpus kinds');
      const ex = await getExporter('keras-h5');
      const files = (await ex.exportModel!(full.model, 'm.weights.h5')).files;
      const w = await importFile({ name: 'm.weights.h5', bytes: files.get('m.weights.h5')! });
      if (w.kind !== 'weights') throw new Error('expected weights');
      expect([...w.weights.tensors.keys()].every((k) => /^layers\/.*\/vars\/\d+$/.test(k))).toBe(true);
      // zero the parameters (not constants such as Resize scales): the binder must supply them
      const params = [...arch.model.graph.params.keys()];
      expect(params.length).toBeGreaterThan(0);
      for (const name of params) (arch.model.graph.initializers.get(name)!.data as Float32Array).fill(0);
      const { model, report } = bindWeights(arch.model, w.weights);
      expect(report.missing).toEqual([]);
      expect(report.unused).toEqual([]);
      for (const name of params) {
        const t = full.model.graph.initializers.get(name)!;
        expect(Array.from(model.graph.initializers.get(name)!.data as Float32Array), name).toEqual(Array.from(t.data as Float32Array));
      }
    });
  }
});

describe('binding report and rules', () => {
  it('missing parameters are E_BINDING with the report attached; --partial keeps the architecture values', async () => {
    const { arch, weights } = await fixture('conv_bn_dw');
    const partial = ws([...weights.tensors].filter(([k]) => !k.startsWith('fc.')));
    let err: unknown;
    try {
      bindWeights(arch, partial);
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_BINDING');
    const detail = (err as { detail: BindingReport }).detail;
    expect(detail.missing.map((m) => m.target).sort()).toEqual(['fc.bias', 'fc.weight']);
    expect((err as Error).message).toMatch(/fc\.weight \[3,64\].*--partial/s);
    const { report } = bindWeights(arch, partial, { partial: true });
    expect(report.missing.length).toBe(2);
  });

  it('dotted Keras-style names (`fc.kernel` + `fc.bias`) are one Keras layer, not two', async () => {
    const { arch, weights } = await fixture('conv_bn_dw');
    const t = (k: string) => weights.tensors.get(k)!;
    const mixed = ws([...[...weights.tensors].filter(([k]) => !k.startsWith('fc.')), ['fc.kernel', denseKernelAfterFlatten(t('fc.weight'), 4, 4, 4)], ['fc.bias', t('fc.bias')]]);
    const { model, report } = bindWeights(arch, mixed);
    expect(report.missing).toEqual([]);
    expect(report.transformed.find((x) => x.sources[0] === 'fc.kernel')?.transform).toMatch(/Dense \[in, out\] → \[out, in\]; Flatten→Dense rows/);
    await expectPyTorchOutputs('conv_bn_dw', model);
  });

  it('unused tensors are listed with a reason', async () => {
    const { arch, weights } = await fixture('house_price');
    const extra = ws([...weights.tensors, ['extra.weight', new Tensor('float32', [7, 3])]]);
    const { report } = bindWeights(arch, extra);
    expect(report.unused).toEqual([{ source: 'extra.weight', shape: [7, 3], reason: 'no architecture parameter matched by name, kind or shape' }]);
  });

  it('--map rules rename keys first (a `module.` prefix from DataParallel)', async () => {
    const { arch, weights } = await fixture('image_classifier');
    const prefixed = ws([...weights.tensors].map(([k, t]) => [`module.${k}`, t] as [string, Tensor]));
    const { model, report } = bindWeights(arch, prefixed, { map: ['^module\\.='] });
    expect(report.renamed.length).toBe(8);
    expect(report.applied.length).toBe(8);
    await expectPyTorchOutputs('image_classifier', model);
  });

  it('a wrong shape is never bound: it is missing and unused, not a crash', async () => {
    const { arch } = await fixture('house_price');
    const bad = ws([
      ['linear.weight', new Tensor('float32', [2, 2])],
      ['linear.bias', new Tensor('float32', [1])],
    ]);
    const { report } = bindWeights(arch, bad, { partial: true });
    expect(report.missing.map((m) => m.target)).toEqual(['linear.weight']);
    expect(report.unused.map((u) => u.source)).toEqual(['linear.weight']);
  });

  it('hostile weight sets (wrong ranks, empty and odd-dtype tensors, renamed keys) give a report or a RosettaError, never a crash', async () => {
    /** Keras MultiHeadAttention-named tensors with random (mostly wrong) shapes. */
    const kerasMhaLike = (rnd: () => number): [string, Tensor][] =>
      ['query', 'key', 'value'].flatMap((p) => [
        [`mha/${p}/kernel:0`, new Tensor('float32', [8, 1 + Math.floor(rnd() * 3), 4])] as [string, Tensor],
        [`mha/${p}/bias:0`, new Tensor('float32', [1 + Math.floor(rnd() * 3), 4])] as [string, Tensor],
      ]);
    for (const name of ['conv_bn_dw', 'rnn_model', 'attn_model']) {
      const { arch, weights } = await fixture(name);
      const rnd = seededRandom(42);
      const entries = [...weights.tensors];
      for (let trial = 0; trial < 60; trial++) {
        const mutated = entries.map(([k, t]): [string, Tensor] => {
          const r = rnd();
          if (r < 0.1) return [k, new Tensor('float32', [...t.shape].reverse())];
          if (r < 0.2) return [k, new Tensor('float32', [0, ...t.shape.slice(1)])];
          if (r < 0.25) return [k, new Tensor('int64', t.shape)];
          if (r < 0.3) return [k, Tensor.from('string', [1], ['x'])];
          if (r < 0.35) return [k, new Tensor('float32', [...t.shape, 1])];
          if (r < 0.45) return [k.replace(/weight/, 'kernel').replace(/\./g, '/'), t];
          if (r < 0.5) return [`${k}_${trial}`, t];
          return [k, t];
        });
        if (name === 'attn_model') mutated.push(...kerasMhaLike(rnd));
        try {
          bindWeights(arch, ws(mutated), { partial: rnd() < 0.5 });
        } catch (e) {
          expect(isRosettaError(e), `${name} trial ${trial}: ${String(e)}`).toBe(true);
        }
      }
    }
  });

  it('invalid --map rules are usage errors', () => {
    expect(() => parseMapRule('no-equals-sign')).toThrow(/E_USAGE/);
    expect(() => parseMapRule('([=x')).toThrow(/E_USAGE.*regular expression/);
    expect(parseMapRule('a\\=b=c').pattern.source).toBe('a=b');
  });
});
