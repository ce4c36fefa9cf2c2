/**
 * The CLI over binding and proof: `convert WEIGHTS OUT --arch A [--map] [--partial] --verify
 * --report`, and `parity A B --per-layer` naming the first diverging layer. Inputs and PyTorch
 * 1.13's outputs come from fixtures/convert (make_fixtures.py).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { readTorch, writeTorch } from '../../src/formats/torch.js';
import { importFile } from '../../src/importers/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');
const fx = (f: string): string => join(FIX, f);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'rosetta-bind-cli-'));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

async function stateDict(path: string): Promise<Map<string, Tensor>> {
  const r = await importFile({ name: path, bytes: new Uint8Array(readFileSync(path)) });
  if (r.kind !== 'weights') throw new Error('expected weights');
  return r.weights.tensors;
}

describe('rosetta convert --arch', () => {
  it('binds a .pt to its ONNX architecture, writes .safetensors + .ts, verifies against the source and reports', async () => {
    const dir = tmp();
    const out = join(dir, 'model.safetensors');
    const report = join(dir, 'r.json');
    const r = await cli('convert', fx('conv_bn_dw.pt'), out, '--arch', fx('conv_bn_dw.onnx'), '--verify', '--inputs', fx('conv_bn_dw.inputs.npz'), '--report', report);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/binding: 15 applied, 0 transformed, 0 missing, 2 unused/);
    expect(r.out).toMatch(/batchnorm-momentum\s+bn\s+momentum 0\.99\d* \(ONNX\/Keras\) → 0\.01 \(PyTorch, 1 − m\)/);
    expect(r.out).toMatch(/output\s+float32\s+\[2,3\]\s+.*yes/);
    expect(existsSync(join(dir, 'model.ts'))).toBe(true);
    const j = JSON.parse(readFileSync(report, 'utf8'));
    expect(j.binding.unused.map((u: { source: string }) => u.source)).toEqual(['bn.num_batches_tracked', 'bn2.num_batches_tracked']);
    expect(j.verify.ok).toBe(true);
    expect(j.verify.targetBinding.missing).toEqual([]);
    // the written state dict has PyTorch's own keys and values
    const written = readSafetensors(new Uint8Array(readFileSync(out)), out).tensors;
    const original = await stateDict(fx('conv_bn_dw.pt'));
    expect([...written.keys()]).toEqual([...original.keys()]);
  });

  it('missing weights are E_BINDING (exit 1) naming them; --partial binds what fits and lists the rest', async () => {
    const dir = tmp();
    const sd = await stateDict(fx('conv_bn_dw.pt'));
    sd.delete('fc.weight');
    const partial = join(dir, 'partial.pt');
    writeFileSync(partial, writeTorch(sd));
    const r = await cli('convert', partial, join(dir, 'a.safetensors'), '--arch', fx('conv_bn_dw.onnx'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^E_BINDING: 1 architecture parameter\(s\) got no weights: fc\.weight \[3,64\]/);
    const p = await cli('convert', partial, join(dir, 'b.safetensors'), '--arch', fx('conv_bn_dw.onnx'), '--partial');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/missing parameter\s+layer\s+shape[\s\S]*fc\.weight\s+fc\s+\[3,64\]/);
  });

  it("--map renames keys before binding (a DataParallel 'module.' prefix)", async () => {
    const dir = tmp();
    const sd = await stateDict(fx('conv_bn_dw.pt'));
    const prefixed = join(dir, 'prefixed.safetensors');
    writeFileSync(prefixed, writeSafetensors(new Map([...sd].map(([k, t]) => [`module.${k}`, t]))));
    const r = await cli('convert', prefixed, join(dir, 'out.pt'), '--arch', fx('conv_bn_dw.onnx'), '--map', '^module\\.=', '--verify', '--inputs', fx('conv_bn_dw.inputs.npz'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/binding: 15 applied, 0 transformed, 0 missing, 2 unused, 17 renamed by --map/);
    const back = readTorch(new Uint8Array(readFileSync(join(dir, 'out.pt'))), 'out.pt');
    expect(back).toBeDefined();
  });

  it('a weights file without --arch still converts as weights', async () => {
    const dir = tmp();
    const r = await cli('convert', fx('conv_bn_dw.pt'), join(dir, 'w.safetensors'), '--verify');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/conv_bn_dw\.pt \(pytorch, 17 tensors\)/);
  });
});

describe('rosetta parity with weights files and --per-layer', () => {
  it('a .pt against its architecture: same outputs, no layer diverges', async () => {
    const r = await cli('parity', fx('rnn_model.onnx'), join(PROJECT_ROOT, 'fixtures', 'pytorch', 'rnn_model.pt'), '--inputs', fx('rnn_model.inputs.npz'), '--per-layer');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/per layer \(5 matched by scope, 0 not comparable\)/);
    expect(r.out).toMatch(/per layer: no layer diverges/);
  });

  it('a perturbed LayerNorm weight: exit 1 and the first diverging layer is named', async () => {
    const dir = tmp();
    const sd = await stateDict(join(PROJECT_ROOT, 'fixtures', 'pytorch', 'rnn_model.pt'));
    const w = sd.get('norm.weight')!;
    const changed = Float32Array.from(w.data as Float32Array, (v, i) => (i === 2 ? v + 0.5 : v));
    sd.set('norm.weight', new Tensor('float32', w.shape, changed));
    const bad = join(dir, 'bad.pt');
    writeFileSync(bad, writeTorch(sd));
    const r = await cli('parity', fx('rnn_model.onnx'), bad, '--inputs', fx('rnn_model.inputs.npz'), '--per-layer', '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.ok).toBe(false);
    expect(j.perLayer.firstDivergence).toBe('norm');
    expect(j.perLayer.layers.find((l: { scope: string }) => l.scope === 'gru').ok).toBe(true);
    expect(r.err).toMatch(/^E_PARITY/);
  });

  it('two weights files need --arch', async () => {
    const pt = fx('conv_bn_dw.pt');
    const r = await cli('parity', pt, pt);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/E_USAGE: .*weights only.*--arch/);
    const ok = await cli('parity', pt, pt, '--arch', fx('conv_bn_dw.onnx'));
    expect(ok.code).toBe(0);
  });
});
