/**
 * Static dtype/shape inference (src/ir/infer.ts) against the ONNX backend-test models: their
 * declared output types were written by ONNX's test generator from the real (numpy) outputs, so
 * they are goldens. Output declarations are removed before inferring; every inferred numeric dim
 * and dtype must agree, and a floor of outputs must be inferred at all. Skipped visibly without
 * libonnx-testdata.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TESTDATA, TESTDATA_DIR, listCases } from '../../scripts/conformance-case.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { broadcastDims, inferTypes } from '../../src/ir/infer.js';

describe('broadcastDims', () => {
  it('follows numpy rules and keeps symbolic dims', () => {
    expect(broadcastDims([[2, 1, 4], [3, 1]])).toEqual([2, 3, 4]);
    expect(broadcastDims([['batch', 3], [1, 3]])).toEqual(['batch', 3]);
    expect(broadcastDims([[2, 3], undefined])).toBeUndefined();
  });
});

describe.skipIf(!HAS_TESTDATA)('inferTypes on the ONNX node suite (declared outputs as goldens; skipped without libonnx-testdata)', () => {
  it('agrees with every declared output it infers, and infers most of them', async () => {
    let declared = 0;
    let inferred = 0;
    const wrong: string[] = [];
    for (const name of listCases('node')) {
      const path = join(TESTDATA_DIR, 'node', name, 'model.onnx');
      const model = await importOnnx(new Uint8Array(readFileSync(path)), { name: path });
      const g = model.graph;
      const golden = g.outputs.map((o) => o.type);
      g.outputs = g.outputs.map((o) => ({ name: o.name }));
      const types = inferTypes(g);
      g.outputs.forEach((o, i) => {
        const want = golden[i];
        if (want?.kind !== 'tensor' || !want.shape) return;
        declared++;
        const got = types.get(o.name);
        if (!got || got.kind !== 'tensor' || !got.shape) return;
        const dimsOk = got.shape.length === want.shape.length && got.shape.every((d, k) => typeof d !== 'number' || typeof want.shape![k] !== 'number' || d === want.shape![k]);
        if (got.dtype !== want.dtype || !dimsOk) wrong.push(`${name} '${o.name}': inferred ${got.dtype}[${got.shape.join(',')}], declared ${want.dtype}[${want.shape.join(',')}]`);
        else if (got.shape.every((d) => typeof d === 'number')) inferred++;
      });
    }
    console.log(`inferTypes: ${inferred}/${declared} declared node-suite outputs inferred fully, ${wrong.length} disagreements`);
    expect(wrong, wrong.join('\n')).toEqual([]);
    // 637/1094 when written; raise as ops are added
    expect(inferred / declared).toBeGreaterThan(0.58);
  });
});
