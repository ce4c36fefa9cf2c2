/**
 * Binding PyTorch's packed `nn.MultiheadAttention` weights (`in_proj_weight [3E, E]`,
 * `in_proj_bias [3E]`, `out_proj.*`) onto a Keras-imported MultiHeadAttention, whose query, key
 * and value are separate projections (src/convert/binding.ts `splitInProj`).
 *
 * Golden: fixtures/keras/torch_goldens.json case `mha_cross`, written by
 * fixtures/keras/make_torch_goldens.py with Debian's PyTorch 1.13: a `torch.nn.MultiheadAttention
 * (8, 2, batch_first=True)` run on (q, kv, kv), its weights stored in Keras' layouts. The state
 * dict is rebuilt here from those Keras kernels by the storage formulas (Keras kernel
 * [E, H, D][i][h][d] = in_proj_weight[p·E + h·D + d][i]; attention_output [H, D, E][h][d][o] =
 * out_proj.weight[o][h·D + d]) as plain index loops, independent of the binder.
 */
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { getExporter } from '../../src/exporters/index.js';
import { importFile } from '../../src/importers/index.js';
import type { WeightSet } from '../../src/importers/types.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';
import { expectClose } from '../helpers/keras-oracle.js';
import { TORCH_GOLDENS as goldens, buildGoldenModel as build, goldenTensor as tensor, runModel as run, type GoldenTensor as T } from '../helpers/torch-goldens.js';

const mhaCase = goldens.cases.find((c) => c.name === 'mha_cross')!;

/** PyTorch's state dict of the golden's nn.MultiheadAttention, from its Keras-layout weights. */
function torchStateDict(kw: T[], prefix: string): WeightSet {
  const [E, H, D] = kw[0]!.shape as [number, number, number];
  const inW = new Float32Array(3 * E * E);
  const inB = new Float32Array(3 * E);
  for (let p = 0; p < 3; p++) {
    const k = kw[2 * p]!.data;
    for (let i = 0; i < E; i++) for (let j = 0; j < H * D; j++) inW[(p * E + j) * E + i] = k[i * H * D + j]!;
    inB.set(kw[2 * p + 1]!.data, p * E);
  }
  const outW = new Float32Array(E * E);
  for (let j = 0; j < H * D; j++) for (let o = 0; o < E; o++) outW[o * E + j] = kw[6]!.data[j * E + o]!;
  const tensors = new Map<string, Tensor>([
    [`${prefix}.in_proj_weight`, new Tensor('float32', [3 * E, E], inW)],
    [`${prefix}.in_proj_bias`, new Tensor('float32', [3 * E], inB)],
    [`${prefix}.out_proj.weight`, new Tensor('float32', [E, E], outW)],
    [`${prefix}.out_proj.bias`, tensor(kw[7]!)],
  ]);
  return { format: 'pytorch', tensors, metadata: {}, notes: [] };
}


describe(`packed nn.MultiheadAttention weights onto Keras MultiHeadAttention (PyTorch ${goldens.torch} golden)`, () => {
  it('in_proj_weight / in_proj_bias split into query, key, value; outputs match PyTorch', async () => {
    const full = build(mhaCase);
    const arch = build(mhaCase);
    for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
    const { model, report } = bindWeights(arch, torchStateDict(mhaCase.weights.mha!, 'attn'));
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    const fromPacked = report.transformed.filter((t) => t.sources[0] === 'attn.in_proj_weight');
    expect(fromPacked.map((t) => t.transform)).toEqual([
      'packed in_proj weight rows [0E, 1E) (query) → Keras MultiHeadAttention query projection; Linear [out, in] → [in, out]',
      'packed in_proj weight rows [1E, 2E) (key) → Keras MultiHeadAttention key projection; Linear [out, in] → [in, out]',
      'packed in_proj weight rows [2E, 3E) (value) → Keras MultiHeadAttention value projection; Linear [out, in] → [in, out]',
    ]);
    expect(report.transformed.filter((t) => t.sources[0] === 'attn.in_proj_bias').length).toBe(3);
    // every parameter is exactly what the Keras importer read from the Keras-layout weights
    for (const name of full.graph.params.keys()) {
      expect(Array.from(model.graph.initializers.get(name)!.data as Float32Array), name).toEqual(Array.from(full.graph.initializers.get(name)!.data as Float32Array));
    }
    const got = await run(model, mhaCase.inputs.map(tensor));
    expectClose(got[0]!, tensor(mhaCase.outputs[0]!), 1e-4, 1e-5, 'mha_cross');
  });

  it('state-dict order does not matter: out_proj first still binds to the output projection', async () => {
    const arch = build(mhaCase);
    for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
    const sd = torchStateDict(mhaCase.weights.mha!, 'attn');
    sd.tensors = new Map([...sd.tensors].reverse());
    const { model, report } = bindWeights(arch, sd);
    expect(report.missing).toEqual([]);
    const got = await run(model, mhaCase.inputs.map(tensor));
    expectClose(got[0]!, tensor(mhaCase.outputs[0]!), 1e-4, 1e-5, 'mha_cross reversed');
  });

  it('Keras 3 .weights.h5 names (query_dense … output_dense, layers listed alphabetically) bind each projection to its own slot', async () => {
    const full = build(mhaCase);
    const arch = build(mhaCase);
    for (const name of arch.graph.params.keys()) (arch.graph.initializers.get(name)!.data as Float32Array).fill(0);
    const files = (await (await getExporter('keras-h5')).exportModel!(full, 'm.weights.h5')).files;
    const w = await importFile({ name: 'm.weights.h5', bytes: files.get('m.weights.h5')! });
    if (w.kind !== 'weights') throw new Error('expected weights');
    expect([...w.weights.tensors.keys()]).toContain('layers/mha/query_dense/vars/0');
    const { model, report } = bindWeights(arch, w.weights);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    for (const name of full.graph.params.keys()) {
      expect(Array.from(model.graph.initializers.get(name)!.data as Float32Array), name).toEqual(Array.from(full.graph.initializers.get(name)!.data as Float32Array));
    }
  });

  it('a packed projection that does not split into the three slots binds nothing (missing, not a crash)', () => {
    const arch = build(mhaCase);
    const sd = torchStateDict(mhaCase.weights.mha!, 'attn');
    const w = sd.tensors.get('attn.in_proj_weight')!;
    sd.tensors.set('attn.in_proj_weight', new Tensor('float32', [w.shape[0]! - 3, w.shape[1]!]));
    const { report } = bindWeights(arch, sd, { partial: true });
    expect(report.missing.map((m) => m.role).filter((r) => r === 'weight').length).toBe(3);
    expect(report.unused.map((u) => u.source)).toContain('attn.in_proj_weight');
  });

  it('hostile packed projections (random shapes, dtypes, missing parts) give a report or a RosettaError, never a crash', () => {
    const rnd = seededRandom(5);
    const dims = (): number[] => Array.from({ length: Math.floor(rnd() * 3) }, () => Math.floor(rnd() * 30));
    for (let trial = 0; trial < 80; trial++) {
      const arch = build(mhaCase);
      const sd = torchStateDict(mhaCase.weights.mha!, 'attn');
      for (const k of [...sd.tensors.keys()]) {
        const r = rnd();
        if (r < 0.2) sd.tensors.set(k, new Tensor('float32', dims()));
        else if (r < 0.3) sd.tensors.set(k, new Tensor('int64', sd.tensors.get(k)!.shape));
        else if (r < 0.4) sd.tensors.delete(k);
      }
      try {
        bindWeights(arch, sd, { partial: rnd() < 0.5 });
      } catch (e) {
        expect(isRosettaError(e), `trial ${trial}: ${String(e)}`).toBe(true);
      }
    }
  });
});
