/**
 * IR → PyTorch: a Keras MultiHeadAttention (as the Keras importer lowers it) becomes one
 * `nn.MultiheadAttention` with PyTorch's keys (`in_proj_weight`, `in_proj_bias`,
 * `out_proj.weight`, `out_proj.bias`) instead of loose Linears (src/convert/to-pytorch.ts
 * `planKerasAttention`).
 *
 * Golden: fixtures/keras/torch_goldens.json `mha_cross`, written by
 * fixtures/keras/make_torch_goldens.py with Debian's PyTorch 1.13 from a real
 * `torch.nn.MultiheadAttention(8, 2, batch_first=True)`: its packed weights (rebuilt here from the
 * stored Keras kernels by index loops) and its outputs. Checked three ways: the state dict equals
 * PyTorch's own tensors, the generated TypeScript module reproduces the outputs, and — when
 * /usr/bin/python3 has torch — the exported `.pt` loads into `torch.nn.MultiheadAttention` with
 * `strict=True` and reproduces them in real PyTorch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { planPyTorch } from '../../src/convert/to-pytorch.js';
import { readNpz } from '../../src/formats/npy.js';
import { Module, MultiheadAttention, type Var } from '../../src/nn/index.js';
import { importFile } from '../../src/importers/index.js';
import { getExporter } from '../../src/exporters/index.js';
import { toPyTorch } from '../../src/exporters/typescript/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { seededRandom } from '../../src/runtime/session.js';
import { PROJECT_ROOT, SYSTEM_PYTHON } from '../helpers/corpus.js';
import { expectClose } from '../helpers/keras-oracle.js';
import { TORCH_GOLDENS as goldens, buildGoldenModel as build, goldenTensor as tensor, type GoldenTensor as T } from '../helpers/torch-goldens.js';

const mhaCase = goldens.cases.find((c) => c.name === 'mha_cross')!;

/** PyTorch's packed tensors from the golden's Keras-layout weights (index loops). */
function torchTensors(kw: T[]): Map<string, number[]> {
  const [E, H, D] = kw[0]!.shape as [number, number, number];
  const inW = new Array<number>(3 * E * E).fill(0);
  const inB: number[] = [];
  for (let p = 0; p < 3; p++) {
    for (let i = 0; i < E; i++) for (let j = 0; j < H * D; j++) inW[(p * E + j) * E + i] = kw[2 * p]!.data[i * H * D + j]!;
    inB.push(...kw[2 * p + 1]!.data);
  }
  const outW = new Array<number>(E * E).fill(0);
  for (let j = 0; j < H * D; j++) for (let o = 0; o < E; o++) outW[o * E + j] = kw[6]!.data[j * E + o]!;
  return new Map([
    ['in_proj_weight', inW],
    ['in_proj_bias', inB],
    ['out_proj.weight', outW],
    ['out_proj.bias', kw[7]!.data],
  ]);
}

const hasTorch = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');

/** fixtures/convert attn_model (PyTorch 1.13, make_fixtures.py): its ONNX export with the .pt bound. */
async function attnModel(): Promise<{ model: Model; sd: Map<string, Tensor> }> {
  const open = async (p: string) => importFile({ name: p, bytes: new Uint8Array(readFileSync(p)) });
  const a = await open(join(FIX, 'attn_model.onnx'));
  const w = await open(join(PROJECT_ROOT, 'fixtures', 'pytorch', 'attn_model.pt'));
  if (a.kind !== 'model' || w.kind !== 'weights') throw new Error('fixture kinds');
  return { model: bindWeights(a.model, w.weights).model, sd: w.weights.tensors };
}

describe('PyTorch ONNX export of nn.MultiheadAttention → nn.MultiheadAttention (attn_model, PyTorch 1.13)', () => {
  it('the region becomes one module, checked numerically; keys and tensors equal the original state dict', async () => {
    const { model, sd } = await attnModel();
    const plan = planPyTorch(model);
    expect(plan.layers.filter((l) => l.className === 'MultiheadAttention').map((l) => [l.path, l.args])).toEqual([['attn', [8, 2, { bias: true, batchFirst: true }]]]);
    expect([...plan.stateDict.keys()].sort()).toEqual([...sd.keys()].sort());
    for (const [k, t] of sd) expect(Array.from(plan.stateDict.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
  });

  it('the generated module reproduces PyTorch’s recorded outputs', async () => {
    const { model } = await attnModel();
    const form = toPyTorch(model, { imports: { nn: join(PROJECT_ROOT, 'src/nn/index.ts'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.ts') } });
    expect(form.source).toMatch(/attn = new nn\.MultiheadAttention\(8, 2, \{ bias: true, batchFirst: true \}\);/);
    const file = join(mkdtempSync(join(tmpdir(), 'rosetta-mha-onnx-')), 'attn.ts');
    writeFileSync(file, form.source);
    const mod = (await import(/* @vite-ignore */ file)) as { ConvertedModel: new () => { eval(): { loadStateDict(sd: Map<string, Tensor>): unknown; run(...x: Tensor[]): Promise<unknown> } } };
    const net = new mod.ConvertedModel().eval();
    net.loadStateDict(form.stateDict);
    const x = readNpz(new Uint8Array(readFileSync(join(FIX, 'attn_model.inputs.npz'))), 'inputs').get('input')!;
    const want = readNpz(new Uint8Array(readFileSync(join(FIX, 'attn_model.outputs.npz'))), 'outputs').get('output')!;
    expectClose((await net.run(x)) as Tensor, want, 1e-4, 1e-5, 'attn_model generated module');
  });

  it('hostile parameters in the exported region (self- and cross-attention exports) give a plan or a RosettaError, never a crash', async () => {
    const rnd = seededRandom(13);
    const sources = [() => attnModel(), () => crossModel('xattn_kv_fresh'), () => crossModel('xattn_qkv')];
    for (let trial = 0; trial < 60; trial++) {
      const { model } = await sources[trial % sources.length]!();
      const g = model.graph;
      for (const k of [...g.initializers.keys()]) {
        const t = g.initializers.get(k)!;
        const r = rnd();
        if (r < 0.15) g.initializers.set(k, new Tensor('float32', [...t.shape].reverse()));
        else if (r < 0.25) g.initializers.set(k, new Tensor('float32', [3 * Math.floor(rnd() * 5), 8]));
        else if (r < 0.3 && t.dtype === 'float32') g.initializers.set(k, new Tensor('float32', t.shape, Float32Array.from({ length: t.size }, () => (rnd() < 0.5 ? NaN : Infinity))));
      }
      try {
        planPyTorch(model);
      } catch (e) {
        expect(isRosettaError(e), `trial ${trial}: ${String(e)}`).toBe(true);
      }
    }
  });

  it.skipIf(!hasTorch)('the exported .pt loads into make_fixtures.AttnModel with strict=True and reproduces its outputs in real PyTorch (skipped without python3-torch)', async () => {
    const { model } = await attnModel();
    const files = (await (await getExporter('pytorch')).exportModel!(model, 'model.pt')).files;
    const pt = join(mkdtempSync(join(tmpdir(), 'rosetta-attn-pt-')), 'model.pt');
    writeFileSync(pt, files.get('model.pt')!);
    const script = [
      'import sys, json, numpy as np, torch',
      `sys.path.insert(0, ${JSON.stringify(FIX)})`,
      'from make_fixtures import EXTRA',
      'model = EXTRA["attn_model"][0]()',
      'model.load_state_dict(torch.load(sys.argv[1]), strict=True)',
      'model.eval()',
      `x = torch.from_numpy(np.load(${JSON.stringify(FIX)} + "/attn_model.inputs.npz")["input"])`,
      `want = np.load(${JSON.stringify(FIX)} + "/attn_model.outputs.npz")["output"]`,
      'with torch.no_grad(): y = model(x).numpy()',
      'print(json.dumps({"max_abs": float(np.abs(y - want).max()), "allclose": bool(np.allclose(y, want, rtol=1e-4, atol=1e-5))}))',
    ].join('\n');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script, pt], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { max_abs: number; allclose: boolean };
    expect(res.allclose, `max abs error ${res.max_abs}`).toBe(true);
  }, 60_000);
});

/** A cross-attention export (fixtures/convert/make_cross_attention.py, PyTorch 1.13) and its state dict. */
async function crossModel(name: string): Promise<{ model: Model; sd: Map<string, Tensor> }> {
  const open = async (p: string) => importFile({ name: p, bytes: new Uint8Array(readFileSync(p)) });
  const a = await open(join(FIX, `${name}.onnx`));
  const w = await open(join(FIX, `${name}.pt`));
  if (a.kind !== 'model' || w.kind !== 'weights') throw new Error('fixture kinds');
  return { model: a.model, sd: w.weights.tensors };
}

describe('PyTorch ONNX export of cross-attention → nn.MultiheadAttention (PyTorch 1.13)', () => {
  const cases: [string, string[], boolean][] = [
    ['xattn_kv_fresh', ['q', 'kv', 'kv'], true], // zero biases: the query bias is an Identity of out_proj.bias
    ['xattn_kv', ['q', 'kv', 'kv'], true],
    ['xattn_qkv', ['q', 'k', 'v'], false],
  ];
  for (const [name, inputs, batchFirst] of cases) {
    it(`${name}: one module with inputs (${inputs.join(', ')}); its state dict equals PyTorch's; the generated module gives PyTorch's outputs`, async () => {
      const { model, sd } = await crossModel(name);
      const plan = planPyTorch(model);
      const attn = plan.layers.filter((l) => l.className === 'MultiheadAttention');
      expect(attn.map((l) => [l.path, l.args, l.inputs])).toEqual([['attn', [8, 2, { bias: true, batchFirst }], inputs]]);
      expect([...plan.stateDict.keys()].sort()).toEqual([...sd.keys()].sort());
      for (const [k, t] of sd) expect(Array.from(plan.stateDict.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
      const form = toPyTorch(model, { imports: { nn: join(PROJECT_ROOT, 'src/nn/index.ts'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.ts') } });
      const file = join(mkdtempSync(join(tmpdir(), 'rosetta-xattn-')), `${name}.ts`);
      writeFileSync(file, form.source);
      const mod = (await import(/* @vite-ignore */ file)) as { ConvertedModel: new () => { eval(): { loadStateDict(sd: Map<string, Tensor>): unknown; run(...x: Tensor[]): Promise<unknown> } } };
      const net = new mod.ConvertedModel().eval();
      net.loadStateDict(form.stateDict);
      const xs = readNpz(new Uint8Array(readFileSync(join(FIX, `${name}.inputs.npz`))), 'inputs');
      const want = readNpz(new Uint8Array(readFileSync(join(FIX, `${name}.outputs.npz`))), 'outputs').get('y')!;
      const args = model.graph.inputs.map((i) => xs.get(i.name)!);
      expectClose((await net.run(...args)) as Tensor, want, 1e-4, 1e-5, `${name} generated module`);
    });
  }
});

describe('src/nn MultiheadAttention traced to IR → nn.MultiheadAttention again', () => {
  it('cross-attention attn(q, kv, kv) and attn(q, k, v): one module with the right inputs and the module\'s own state dict', () => {
    class KV extends Module {
      attn = new MultiheadAttention(8, 2, { batchFirst: true });
      forward(q: Var, kv: Var): Var {
        return (this.attn.call(q, kv, kv) as Var[])[0]!;
      }
    }
    class QKV extends Module {
      attn = new MultiheadAttention(8, 4, { batchFirst: true });
      forward(q: Var, k: Var, v: Var): Var {
        return (this.attn.call(q, k, v) as Var[])[0]!;
      }
    }
    for (const [net, shapes] of [[new KV(), [[2, 3, 8], [2, 5, 8]]], [new QKV(), [[2, 3, 8], [2, 5, 8], [2, 5, 8]]]] as const) {
      const ir = net.toModel(shapes.map((x) => [...x]));
      const plan = planPyTorch(ir);
      const names = ir.graph.inputs.map((i) => i.name);
      expect(plan.layers.map((l) => [l.className, l.inputs])).toEqual([['MultiheadAttention', names.length === 2 ? [names[0], names[1], names[1]] : names]]);
      const own = net.stateDict();
      expect([...plan.stateDict.keys()].sort()).toEqual([...own.keys()].sort());
      for (const [k, t] of own) expect(Array.from(plan.stateDict.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    }
  });

  for (const batchFirst of [true, false]) {
    it(`batchFirst ${batchFirst}: the traced model plans to one module whose state dict equals the module's own`, () => {
      class Net extends Module {
        attn = new MultiheadAttention(8, 2, { batchFirst });
        forward(x: Var): Var {
          return (this.attn.call(x, x, x) as Var[])[0]!;
        }
      }
      const net = new Net();
      const ir = net.toModel([batchFirst ? [2, 5, 8] : [5, 2, 8]]);
      const plan = planPyTorch(ir);
      expect(plan.layers.map((l) => [l.path, l.className, l.args])).toEqual([['attn', 'MultiheadAttention', [8, 2, { bias: true, batchFirst }]]]);
      const own = net.stateDict();
      expect([...plan.stateDict.keys()].sort()).toEqual([...own.keys()].sort());
      for (const [k, t] of own) expect(Array.from(plan.stateDict.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    });
  }
});

describe(`Keras MultiHeadAttention → nn.MultiheadAttention (PyTorch ${goldens.torch} golden)`, () => {
  it('one module with PyTorch keys; the packed tensors equal PyTorch’s own', () => {
    const plan = planPyTorch(build(mhaCase));
    const mha = plan.layers.filter((l) => l.className === 'MultiheadAttention');
    expect(mha.map((l) => [l.path, l.args])).toEqual([['mha', [8, 2, { bias: true, batchFirst: true }]]]);
    expect(plan.layers.filter((l) => l.className === 'Linear')).toEqual([]);
    expect([...plan.stateDict.keys()].sort()).toEqual(['mha.in_proj_bias', 'mha.in_proj_weight', 'mha.out_proj.bias', 'mha.out_proj.weight']);
    for (const [k, want] of torchTensors(mhaCase.weights.mha!)) {
      expect(Array.from(plan.stateDict.get(`mha.${k}`)!.data as Float32Array), k).toEqual(Array.from(Float32Array.from(want)));
    }
    expect(plan.rewrites.some((r) => r.kind === 'attention-packed' && r.scope === 'mha')).toBe(true);
  });

  it('the generated TypeScript module (src/nn MultiheadAttention) reproduces PyTorch’s outputs', async () => {
    const m = build(mhaCase);
    const form = toPyTorch(m, { imports: { nn: join(PROJECT_ROOT, 'src/nn/index.ts'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.ts') } });
    expect(form.source).toContain('mha = new nn.MultiheadAttention(8, 2, { bias: true, batchFirst: true });');
    expect(form.source).toMatch(/= this\.mha\.call\(v0, v1, v1\) as Var\[\];/);
    const file = join(mkdtempSync(join(tmpdir(), 'rosetta-mha-')), 'mha.ts');
    writeFileSync(file, form.source);
    const mod = (await import(/* @vite-ignore */ file)) as { ConvertedModel: new () => { eval(): { loadStateDict(sd: Map<string, Tensor>): unknown; run(...x: Tensor[]): Promise<unknown> } } };
    const net = new mod.ConvertedModel().eval();
    net.loadStateDict(form.stateDict);
    const y = (await net.run(...mhaCase.inputs.map(tensor))) as Tensor;
    expectClose(y, tensor(mhaCase.outputs[0]!), 1e-4, 1e-5, 'generated module');
  });

  it.skipIf(!hasTorch)('the exported .pt loads into torch.nn.MultiheadAttention(strict=True) and reproduces the outputs in real PyTorch (skipped without python3-torch)', async () => {
    const files = (await (await getExporter('pytorch')).exportModel!(build(mhaCase), 'model.pt')).files;
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-mha-pt-'));
    const pt = join(dir, 'model.pt');
    writeFileSync(pt, files.get('model.pt')!);
    const io = join(dir, 'io.json');
    writeFileSync(io, JSON.stringify({ inputs: mhaCase.inputs, output: mhaCase.outputs[0] }));
    const script = [
      'import sys, json, torch',
      'pt, io = sys.argv[1], sys.argv[2]',
      'd = json.load(open(io))',
      't = lambda x: torch.tensor(x["data"], dtype=torch.float32).reshape(x["shape"])',
      'sd = torch.load(pt)',
      'm = torch.nn.MultiheadAttention(8, 2, batch_first=True)',
      'm.load_state_dict({k[len("mha."):]: v for k, v in sd.items()}, strict=True)',
      'm.eval()',
      'q, kv = (t(x) for x in d["inputs"])',
      'with torch.no_grad(): y, _ = m(q, kv, kv)',
      'want = t(d["output"])',
      'print(json.dumps({"keys": sorted(sd.keys()), "max_abs": float((y - want).abs().max()), "allclose": bool(torch.allclose(y, want, rtol=1e-4, atol=1e-5))}))',
    ].join('\n');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script, pt, io], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { keys: string[]; max_abs: number; allclose: boolean };
    expect(res.keys).toEqual(['mha.in_proj_bias', 'mha.in_proj_weight', 'mha.out_proj.bias', 'mha.out_proj.weight']);
    expect(res.allclose, `max abs error ${res.max_abs}`).toBe(true);
  }, 60_000);

  it('hostile attention parameters (random shapes, bad head counts) give a plan or a RosettaError, never a crash', () => {
    const rnd = seededRandom(9);
    for (let trial = 0; trial < 60; trial++) {
      const m = build(mhaCase);
      const g = m.graph;
      for (const k of [...g.initializers.keys()]) {
        const r = rnd();
        if (r < 0.15) g.initializers.set(k, new Tensor('float32', Array.from({ length: Math.floor(rnd() * 3) }, () => Math.floor(rnd() * 10))));
        else if (r < 0.25 && g.initializers.get(k)!.dtype === 'int64') g.initializers.set(k, Tensor.from('int64', [4], [0n, 0n, BigInt(Math.floor(rnd() * 7) - 3), BigInt(Math.floor(rnd() * 7) - 3)]));
      }
      try {
        const plan = planPyTorch(m);
        for (const l of plan.layers.filter((x) => x.className === 'MultiheadAttention')) expect((l.args[0] as number) % (l.args[1] as number)).toBe(0);
      } catch (e) {
        expect(isRosettaError(e), `trial ${trial}: ${String(e)}`).toBe(true);
      }
    }
  });

  it('causal attention (mha_causal_self) is not nn.MultiheadAttention’s default form: it stays Linears + ops', () => {
    const plan = planPyTorch(build(goldens.cases.find((c) => c.name === 'mha_causal_self')!));
    expect(plan.layers.filter((l) => l.className === 'MultiheadAttention')).toEqual([]);
    expect(plan.layers.filter((l) => l.className === 'Linear').length).toBe(4);
  });
});
