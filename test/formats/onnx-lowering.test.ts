/**
 * Exporting at a lower opset than the graph's forms need (`exportOnnx(model, { opset })`), swept
 * over the ONNX node suite: for every model and target opset the exporter either refuses with a
 * typed error naming the node (E_UNSUPPORTED: a form, element type or attribute the old opset
 * lacks) or writes a model that onnxruntime-node accepts and that computes bit-identical outputs
 * to the original. Writing a model onnxruntime rejects, or one that computes something else, fails.
 * Skipped visibly without libonnx-testdata or onnxruntime-node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TESTDATA, TESTDATA_DIR, listCases, loadCase } from '../../scripts/conformance-case.js';
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { chooseOpset, exportOnnx } from '../../src/exporters/onnx/index.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { tensorsBitEqual, type Tensor } from '../../src/ir/tensor.js';
import { isTensor } from '../../src/runtime/value.js';

const ort = await loadOrt();
const TARGETS = [9, 11];

async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const s = await ort!.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrtTensor(ort!, v)])));
    return s.outputNames.map((n) => fromOrtTensor(out[n]!));
  } finally {
    await s.release();
  }
}

describe.skipIf(!HAS_TESTDATA || !ort)('lowering to older opsets (node suite, onnxruntime-node oracle; skipped without libonnx-testdata or onnxruntime-node)', () => {
  it(`opsets ${TARGETS.join(', ')}: refused with a typed error, or bit-identical`, { timeout: 300_000 }, async () => {
    let written = 0;
    let refused = 0;
    const bad: string[] = [];
    for (const name of listCases('node')) {
      const dir = join(TESTDATA_DIR, 'node', name);
      const original = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
      let feeds: Record<string, Tensor>;
      let expected: Tensor[];
      try {
        const ds = (await loadCase(dir)).dataSets[0];
        if (!ds || !Object.values(ds.inputs).every(isTensor)) continue;
        feeds = ds.inputs as Record<string, Tensor>;
        expected = await runOrt(original, feeds);
      } catch {
        continue; // onnxruntime-node cannot run the original
      }
      const model = await importOnnx(original, { name: dir });
      const natural = chooseOpset(model);
      for (const opset of TARGETS.filter((t) => t < natural)) {
        let bytes: Uint8Array;
        try {
          bytes = exportOnnx(model, { opset }).files.get('model.onnx')!;
        } catch (e) {
          if (isRosettaError(e) && e.code === 'E_UNSUPPORTED' && e.where.node !== undefined) refused++;
          else bad.push(`${name}@${opset}: untyped or unnamed refusal: ${(e as Error).message}`);
          continue;
        }
        written++;
        try {
          const actual = await runOrt(bytes, feeds);
          if (!expected.every((t, i) => actual[i] && tensorsBitEqual(actual[i]!, t))) bad.push(`${name}@${opset}: outputs differ`);
        } catch (e) {
          bad.push(`${name}@${opset}: onnxruntime-node rejects the lowered model: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`);
        }
      }
    }
    console.log(`lowering: ${written} models written at a lower opset and verified, ${refused} refused with E_UNSUPPORTED`);
    expect(written).toBeGreaterThan(100);
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
