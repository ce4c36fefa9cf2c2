/**
 * The third-party corpus (../shared/corpus/pytorch and /safetensors: files written by torch 2.x and
 * the safetensors reference) read by Rosetta, compared with what the real frameworks report:
 * fixtures/pytorch-formats/corpus-expect.json, written by fixtures/pytorch-formats/expect.py with
 * torch 1.13 + numpy 1.24 (keys, dtypes, shapes, sha256 of the C-ordered bytes, first values).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/formats/safetensors.js';
import { tensorToLE } from '../../src/formats/tensor-bytes.js';
import { TorchTensorRef, readTorch } from '../../src/formats/torch.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { tensorsBitEqual, type Tensor } from '../../src/ir/tensor.js';
import { importFile } from '../../src/importers/index.js';
import { readPytorchWeights } from '../../src/importers/pytorch/index.js';
import { HAS_CORPUS, PROJECT_ROOT, readCorpus } from '../helpers/corpus.js';

interface ExpTensor {
  dtype: string;
  shape: number[];
  sha256: string;
  first: (number | string)[];
}
interface Expect {
  pytorch: Record<string, { tensors?: Record<string, ExpTensor>; scalars?: Record<string, unknown>; error?: string }>;
  safetensors: Record<string, { tensors: Record<string, ExpTensor>; metadata: Record<string, string> }>;
}
const EXPECT = JSON.parse(readFileSync(join(PROJECT_ROOT, 'fixtures', 'pytorch-formats', 'corpus-expect.json'), 'utf8')) as Expect;

const sha = (t: Tensor): string => createHash('sha256').update(tensorToLE(t)).digest('hex');
const firstValues = (t: Tensor, n: number): (number | string)[] => {
  const v = t.dtype === 'complex64' || t.dtype === 'complex128' ? Array.from(t.data as Float32Array) : t.toNumbers();
  return v.slice(0, n).map((x) => (Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : x));
};

function checkTensor(t: Tensor | undefined, e: ExpTensor, key: string): void {
  expect(t, `tensor ${key}`).toBeDefined();
  expect(t!.dtype, key).toBe(e.dtype);
  expect([...t!.shape], key).toEqual(e.shape);
  expect(sha(t!), `bytes of ${key}`).toBe(e.sha256);
  const got = firstValues(t!, e.first.length);
  e.first.forEach((x, i) => {
    if (typeof x === 'string') expect(got[i]).toBe(x);
    else expect(got[i] as number).toBeCloseTo(x, 5);
  });
}

describe.skipIf(!HAS_CORPUS)('corpus: torch.save files (torch 2.x) match torch 1.13', () => {
  for (const [file, exp] of Object.entries(EXPECT.pytorch)) {
    if (exp.error) {
      it(`${file} is refused with a typed error (torch itself fails: ${exp.error})`, () => {
        let err: unknown;
        try {
          readPytorchWeights(readCorpus('pytorch', file), file);
        } catch (e) {
          err = e;
        }
        expect(isRosettaError(err)).toBe(true);
        expect((err as { code: string }).code).toMatch(/^E_(BAD_FORMAT|TRUNCATED)$/);
      });
      continue;
    }
    it(`${file}: keys, dtypes, shapes and values`, () => {
      const ws = readPytorchWeights(readCorpus('pytorch', file), file);
      const tensors = exp.tensors!;
      // A checkpoint wrapping its state dict is unwrapped: compare against the wrapped entry.
      const wrapped = Object.keys(tensors).every((k) => k.startsWith('model_state_dict.') || k.startsWith('optimizer_state_dict.'));
      const want = wrapped ? Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith('model_state_dict.')).map(([k, v]) => [k.slice('model_state_dict.'.length), v])) : tensors;
      expect([...ws.tensors.keys()].sort()).toEqual(Object.keys(want).sort());
      for (const [k, e] of Object.entries(want)) checkTensor(ws.tensors.get(k), e, `${file}:${k}`);
      for (const [k, v] of Object.entries(exp.scalars ?? {})) expect(ws.metadata[k]).toBe(String(v));
    });
  }

  it('checkpoint.pt: --key picks the optimizer state instead', () => {
    const ws = readPytorchWeights(readCorpus('pytorch', 'checkpoint.pt'), 'checkpoint.pt', { key: 'optimizer_state_dict' });
    const e = EXPECT.pytorch['checkpoint.pt']!.tensors!['optimizer_state_dict.state.0.momentum_buffer']!;
    expect([...ws.tensors.keys()]).toEqual(['state.0.momentum_buffer']);
    checkTensor(ws.tensors.get('state.0.momentum_buffer'), e, 'momentum_buffer');
  });

  it('fortran_tensor_3d.pth is stored column-major and is materialised in C order', () => {
    const f = readTorch(readCorpus('pytorch', 'fortran_tensor_3d.pth'));
    const ref = (f.value as Map<string, unknown>).get('tensor_fortran') as TorchTensorRef;
    expect(ref).toBeInstanceOf(TorchTensorRef);
    expect([...ref.stride]).toEqual([1, 2, 6]);
    const t = ref.materialize();
    checkTensor(t, EXPECT.pytorch['fortran_tensor_3d.pth']!.tensors!['tensor_fortran']!, 'tensor_fortran');
  });

  it('legacy_uncloned_views.pt: two views with offsets into one shared storage', () => {
    const f = readTorch(readCorpus('pytorch', 'legacy_uncloned_views.pt'));
    expect(f.layout).toBe('legacy');
    const m = f.value as Map<string, TorchTensorRef>;
    expect(m.get('tensor1')!.storage).toBe(m.get('tensor2')!.storage);
    expect([m.get('tensor1')!.offset, m.get('tensor2')!.offset]).toEqual([10, 50]);
  });

  // The two burn fixtures hold the same 20 tensors (names, dtypes, shapes) but from different
  // training runs: torch 1.13 and numpy disagree on every value (see corpus-expect.json, e.g.
  // norm1.num_batches_tracked 3752 vs 7504), so equality is checked on structure, and each file's
  // values against its own reference above.
  it('mnist.pt and mnist.safetensors hold the same tensors (names, dtypes, shapes)', () => {
    const pt = readPytorchWeights(readCorpus('pytorch', 'mnist.pt'), 'mnist.pt');
    const st = readSafetensors(readCorpus('safetensors', 'mnist.safetensors'), 'mnist.safetensors');
    expect(pt.tensors.size).toBe(20);
    expect([...pt.tensors.keys()].sort()).toEqual([...st.tensors.keys()].sort());
    for (const [k, t] of pt.tensors) {
      const s = st.tensors.get(k)!;
      expect([t.dtype, ...t.shape], k).toEqual([s.dtype, ...s.shape]);
    }
    const refPt = EXPECT.pytorch['mnist.pt']!.tensors!['norm1.num_batches_tracked']!.first[0];
    const refSt = EXPECT.safetensors['mnist.safetensors']!.tensors['norm1.num_batches_tracked']!.first[0];
    expect([pt.tensors.get('norm1.num_batches_tracked')!.get(0), st.tensors.get('norm1.num_batches_tracked')!.get(0)]).toEqual([refPt, refSt]);
    expect(tensorsBitEqual(pt.tensors.get('conv1.weight')!, st.tensors.get('conv1.weight')!)).toBe(false);
  });

  it('format detection routes .pt and .safetensors to their importers', async () => {
    const r = await importFile({ name: 'mnist.pt', bytes: readCorpus('pytorch', 'mnist.pt') });
    expect(r.kind === 'weights' && r.weights.format).toBe('pytorch');
    const s = await importFile({ name: 'x.safetensors', bytes: readCorpus('safetensors', 'sample_overall.safetensors') });
    expect(s.kind === 'weights' && s.weights.format).toBe('safetensors');
  });
});

describe.skipIf(!HAS_CORPUS)('corpus: safetensors files match a numpy decoding', () => {
  for (const [file, exp] of Object.entries(EXPECT.safetensors)) {
    it(`${file}: tensors and __metadata__`, () => {
      const f = readSafetensors(readCorpus('safetensors', file), file);
      expect([...f.tensors.keys()].sort()).toEqual(Object.keys(exp.tensors).sort());
      for (const [k, e] of Object.entries(exp.tensors)) checkTensor(f.tensors.get(k), e, `${file}:${k}`);
      expect(Object.fromEntries(f.metadata)).toEqual(exp.metadata);
    });
  }
});
