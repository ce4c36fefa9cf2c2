/**
 * torch.save files written by torch 1.13 (fixtures/pytorch-formats/gen.py; expected dtypes, shapes
 * and sha256 of the C-ordered bytes in gen/expect.json): every storage dtype, views, shared storage,
 * parameters, checkpoints, a whole pickled nn.Module, big-endian storages, TorchScript (refused),
 * sharded `.bin` checkpoints. Then round trips .pt → WeightSet → .pt / .safetensors → back, and
 * real `torch.load(weights_only=True)` reading our `.pt` (skipped visibly without torch).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getExporter } from '../../src/exporters/index.js';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.js';
import { writeZip } from '../../src/formats/zip.js';
import { tensorToLE } from '../../src/formats/tensor-bytes.js';
import { TorchStorage, TorchTensorRef, readTorch, writeTorch } from '../../src/formats/torch.js';
import { Tensor, tensorsBitEqual } from '../../src/ir/tensor.js';
import { importFile } from '../../src/importers/index.js';
import { readPytorchWeights } from '../../src/importers/pytorch/index.js';
import { PROJECT_ROOT, SYSTEM_PYTHON } from '../helpers/corpus.js';
import { errorOf } from '../helpers/errors.js';

const DIR = join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'gen');
type Exp = Record<string, { dtype: string; shape: number[]; sha256: string }>;
const EXPECT = JSON.parse(readFileSync(join(DIR, 'expect.json'), 'utf8')) as { files: Record<string, Exp> };
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, f)));
const sha = (t: Tensor): string => createHash('sha256').update(tensorToLE(t)).digest('hex');

function matches(tensors: Map<string, Tensor>, exp: Exp): void {
  expect([...tensors.keys()].sort()).toEqual(Object.keys(exp).sort());
  for (const [k, e] of Object.entries(exp)) {
    const t = tensors.get(k)!;
    expect([t.dtype, ...t.shape], k).toEqual([e.dtype, ...e.shape]);
    expect(sha(t), k).toBe(e.sha256);
  }
}

const TORCH_OK = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

describe('torch.save files written by torch 1.13', () => {
  for (const f of ['dtypes_zip.pt', 'dtypes_legacy.pt', 'big_endian.pt']) {
    it(`${f}: every dtype, views with offsets and strides, parameters`, () => {
      const ws = readPytorchWeights(read(f), f);
      matches(ws.tensors, EXPECT.files[f]!);
    });
  }

  it('legacy_views.pt: a tensor on a storage view of a root storage (pre-1.0 layout)', () => {
    const ws = readPytorchWeights(read('legacy_views.pt'), 'legacy_views.pt');
    matches(ws.tensors, EXPECT.files['legacy_views.pt']!);
    expect(ws.tensors.get('v')!.toNumbers()).toEqual((EXPECT as unknown as { legacy_views_values: number[] }).legacy_views_values);
  });

  it('importer sniffing: magic bytes first, names for the rest, never throws', async () => {
    const { pytorchImporter } = await import('../../src/importers/pytorch/index.js');
    const { safetensorsImporter } = await import('../../src/importers/pytorch/safetensors.js');
    expect(pytorchImporter.match(read('dtypes_zip.pt'), 'no-extension')).toBe(true);
    expect(pytorchImporter.match(read('dtypes_legacy.pt'), 'x.weird')).toBe(true);
    expect(pytorchImporter.match(new Uint8Array(0), 'x.pth')).toBe(true);
    expect(pytorchImporter.match(writeSafetensors(new Map()), 'x.safetensors')).toBe(false);
    expect(safetensorsImporter.match(writeSafetensors(new Map([['a', new Tensor('uint8', [1])]])), 'noext')).toBe(true);
    expect(safetensorsImporter.match(read('dtypes_zip.pt'), 'x.pt')).toBe(false);
    for (const n of [0, 1, 3, 9]) {
      expect(() => pytorchImporter.match(new Uint8Array(n), 'x')).not.toThrow();
      expect(() => safetensorsImporter.match(new Uint8Array(n), 'x')).not.toThrow();
    }
  });

  it('big_endian.pt is reported as converted', () => {
    expect(readPytorchWeights(read('big_endian.pt'), 'big_endian.pt').notes.join()).toMatch(/big-endian/);
  });

  it('views share one storage and record their strides', () => {
    const m = readTorch(read('dtypes_zip.pt')).value as Map<string, TorchTensorRef>;
    expect(m.get('transposed')!.storage).toBe(m.get('base')!.storage);
    expect(m.get('sliced')!.offset).toBe(8);
    expect([...m.get('strided')!.stride]).toEqual([12, 3]);
  });

  it('checkpoint.pt: state dict unwrapped, scalars as metadata, --key for the optimizer', () => {
    const ws = readPytorchWeights(read('checkpoint.pt'), 'checkpoint.pt');
    matches(ws.tensors, EXPECT.files['checkpoint.pt']!);
    expect(ws.metadata).toMatchObject({ epoch: '7', loss: '0.5' });
    expect(ws.notes.join()).toMatch(/model_state_dict.*optimizer_state_dict/);
    const opt = readPytorchWeights(read('checkpoint.pt'), 'checkpoint.pt', { key: 'optimizer_state_dict' });
    matches(opt.tensors, EXPECT.files['checkpoint.pt#optimizer_state_dict']!);
    expect(errorOf(() => readPytorchWeights(read('checkpoint.pt'), 'checkpoint.pt', { key: 'nope' })).code).toBe('E_USAGE');
  });

  it('whole_module.pt: a pickled nn.Module yields its state dict and says the architecture is missing', () => {
    const ws = readPytorchWeights(read('whole_module.pt'), 'whole_module.pt');
    matches(ws.tensors, EXPECT.files['whole_module.pt']!);
    expect([...ws.tensors.keys()]).toEqual(Object.keys(EXPECT.files['whole_module.pt']!)); // state_dict() order
    expect(ws.notes.join()).toMatch(/whole nn\.Module \(torch\.nn\.modules\.container\.Sequential.*architecture must come from elsewhere/);
  });

  it('scripted.pt: TorchScript is recognised and refused, never run', () => {
    const e = errorOf(() => readPytorchWeights(read('scripted.pt'), 'scripted.pt'));
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(e.message).toMatch(/TorchScript/);
  });

  it('sharded pytorch_model.bin.index.json reads both shards through readSibling', async () => {
    const idx = join(DIR, 'sharded', 'pytorch_model.bin.index.json');
    const src = { name: 'pytorch_model.bin.index.json', bytes: new Uint8Array(readFileSync(idx)), readSibling: async (p: string) => new Uint8Array(readFileSync(join(dirname(idx), p))) };
    const r = await importFile(src);
    expect(r.kind).toBe('weights');
    if (r.kind === 'weights') matches(r.weights.tensors, EXPECT.files['sharded/pytorch_model.bin.index.json']!);
  });
});

describe('torch 2.x tensor builders (hand-built pickles, the shapes torch/_tensor.py and torch/_utils.py emit)', () => {
  /** _rebuild_tensor_v2(storage '0' of 2 floats, 0, (2,), (1,), False, OrderedDict()) on the stack. */
  const tensorCall = (p: PickleWriter): PickleWriter => {
    p.global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().persId();
    return p.int(0).intTuple([2]).intTuple([1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  };
  const archive = (pkl: Uint8Array): Uint8Array =>
    writeZip([{ name: 'x/data.pkl', data: pkl }, { name: 'x/data/0', data: new Uint8Array(Float32Array.of(1.5, -2).buffer) }]);

  it('_rebuild_parameter_with_state and _rebuild_from_type_v2 yield the tensor', () => {
    const p = new PickleWriter(2).emptyDict().mark();
    p.str('p').global('torch._utils', '_rebuild_parameter_with_state').mark();
    tensorCall(p).bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().emptyDict().tuple().reduce();
    p.str('q').global('torch._tensor', '_rebuild_from_type_v2').mark().global('torch._utils', '_rebuild_tensor_v2').global('torch.nn.parameter', 'Parameter');
    p.mark().mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().persId();
    p.int(1).intTuple([1]).intTuple([1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple();
    p.emptyDict().tuple().reduce().setItems();
    const ws = readPytorchWeights(archive(p.finish()), 'v2.pt');
    expect(ws.tensors.get('p')!.toNumbers()).toEqual([1.5, -2]);
    expect(ws.tensors.get('q')!.toNumbers()).toEqual([-2]);
  });

  it('_rebuild_from_type_v2 with a type outside the allowlist is refused', () => {
    const p = new PickleWriter(2).global('torch._tensor', '_rebuild_from_type_v2').mark().global('torch._utils', '_rebuild_tensor_v2').global('collections', 'OrderedDict');
    p.emptyTuple().emptyDict().tuple().reduce();
    expect(() => readPytorchWeights(archive(p.finish()), 'v2.pt')).toThrow(/E_UNSAFE_CONTENT/);
  });
});

describe('strided materialisation against a byte-wise reference gather', () => {
  // Every element size, aligned and misaligned storage bytes, a 3-d permuted view with an offset.
  for (const dtype of ['int8', 'float16', 'float32', 'float64', 'complex64'] as const) {
    for (const shift of [0, 1, 3]) {
      it(`${dtype}, storage bytes at byte offset ${shift}`, () => {
        const es = { int8: 1, float16: 2, float32: 4, float64: 8, complex64: 8 }[dtype];
        const numel = 2 + 3 * 4 * 5;
        const backing = new Uint8Array(shift + numel * es);
        for (let i = 0; i < backing.length; i++) backing[i] = (i * 37 + 11) & 0xff;
        const bytes = backing.subarray(shift);
        const storage = new TorchStorage('0', dtype, numel, 'cpu', () => bytes, false);
        const shape = [5, 3, 4];
        const stride = [1, 20, 5]; // a permutation of a contiguous [3, 4, 5] block
        const t = new TorchTensorRef(storage, 2, shape, stride, false).materialize();
        const got = tensorToLE(t);
        const want: number[] = [];
        for (let a = 0; a < 5; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) {
          const e = 2 + a * 1 + b * 20 + c * 5;
          for (let k = 0; k < es; k++) want.push(bytes[e * es + k]!);
        }
        expect([...got]).toEqual(want);
      });
    }
  }
});

describe('round trips', () => {
  const original = readPytorchWeights(read('dtypes_zip.pt'), 'dtypes_zip.pt');

  it('.pt → WeightSet → .pt is bit-exact', () => {
    const back = readPytorchWeights(writeTorch(original.tensors), 'ours.pt');
    expect([...back.tensors.keys()]).toEqual([...original.tensors.keys()]);
    for (const [k, t] of original.tensors) expect(tensorsBitEqual(t, back.tensors.get(k)!), k).toBe(true);
  });

  it('.pt → .safetensors → back is bit-exact (complex128 has no safetensors dtype and is left out)', () => {
    const sub = new Map([...original.tensors].filter(([, t]) => t.dtype !== 'complex128'));
    const st = readSafetensors(writeSafetensors(sub, { source: 'dtypes_zip.pt' }));
    expect(Object.fromEntries(st.metadata)).toEqual({ source: 'dtypes_zip.pt' });
    expect([...st.tensors.keys()]).toEqual([...sub.keys()]);
    for (const [k, t] of sub) expect(tensorsBitEqual(t, st.tensors.get(k)!), k).toBe(true);
    const pt = readPytorchWeights(writeTorch(st.tensors), 'again.pt');
    for (const [k, t] of sub) expect(tensorsBitEqual(t, pt.tensors.get(k)!), k).toBe(true);
  });

  it('exporters are registered for .pt and .safetensors', async () => {
    const ex = await getExporter('pytorch');
    const out = await ex.exportWeights!(original, 'w.pt');
    expect(readPytorchWeights(out.files.get('w.pt')!, 'w.pt').tensors.size).toBe(original.tensors.size);
    const sx = await getExporter('safetensors');
    expect(sx.extensions).toContain('.safetensors');
  });

  it('tied weights (two names, one storage) stay shared through read and write', () => {
    const w = Tensor.from('float32', [2], [1, 2]);
    const bytes = writeTorch(new Map([['embed.weight', w], ['head.weight', w], ['other', Tensor.from('float32', [2], [1, 2])]]));
    const f = readTorch(bytes).value as Map<string, TorchTensorRef>;
    expect(f.get('embed.weight')!.storage).toBe(f.get('head.weight')!.storage);
    expect(f.get('other')!.storage).not.toBe(f.get('head.weight')!.storage);
    const ws = readPytorchWeights(bytes, 'tied.pt');
    expect(ws.tensors.get('embed.weight')).toBe(ws.tensors.get('head.weight'));
    expect(ws.tensors.get('other')).not.toBe(ws.tensors.get('head.weight'));
  });

  it('writing a dtype torch 1.13 lacks is refused with a typed error', () => {
    expect(errorOf(() => writeTorch(new Map([['u', new Tensor('uint32', [1])]]))).code).toBe('E_UNSUPPORTED_DTYPE');
  });

  it.skipIf(!TORCH_OK)('real torch.load(weights_only=True) reads our .pt with identical values (skipped when /usr/bin/python3 has no torch)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-pt-'));
    const p = join(dir, 'ours.pt');
    writeFileSync(p, writeTorch(original.tensors));
    const script = [
      'import sys, json, hashlib, torch',
      'sd = torch.load(sys.argv[1], weights_only=True)',
      'def b(t):',
      '    t = t.contiguous()',
      '    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()',
      'print(json.dumps({k: [str(v.dtype), list(v.shape), hashlib.sha256(b(v)).hexdigest()] for k, v in sd.items()}))',
    ].join('\n');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script, p], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, [string, number[], string]>;
    const exp = EXPECT.files['dtypes_zip.pt']!;
    expect(Object.keys(got)).toEqual([...original.tensors.keys()]);
    for (const [k, [, shape, digest]] of Object.entries(got)) {
      expect(shape, k).toEqual(exp[k]!.shape);
      expect(digest, k).toBe(exp[k]!.sha256);
    }
  });
});
