/**
 * ONNX → IR → ONNX round trip over every model of the ONNX backend-test suites: onnxruntime-node
 * must give bit-identical outputs for the original and the re-exported model on the suite's
 * inputs, and the model is written back at the opset it came with. Cases onnxruntime-node cannot run in their original form (old opsets it dropped, types
 * its JS API lacks, locale-dependent ops) are skipped and counted in the log.
 * Skipped, visibly, when libonnx-testdata is not installed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TESTDATA, TESTDATA_DIR, listCases, loadCase } from '../../scripts/conformance-case.js';
import { fromOrtTensor, loadOrt, toOrtTensor } from '../../scripts/conformance.js';
import { exportOnnx } from '../../src/exporters/onnx/index.js';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { decodeOnnxMessage, longToNumber, type ModelPb } from '../../src/formats/onnx-proto.js';
import { tensorsBitEqual, type Tensor } from '../../src/ir/tensor.js';
import { isTensor } from '../../src/runtime/value.js';

const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];

if (!HAS_TESTDATA) console.warn(`[rosetta tests] ONNX backend test data not found at ${TESTDATA_DIR}: round-trip test skipped`);

async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  const ort = (await loadOrt())!;
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  try {
    const f: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrtTensor(ort, v);
    const out = await s.run(f);
    return s.outputNames.map((n) => fromOrtTensor(out[n]!));
  } finally {
    await s.release();
  }
}

describe.skipIf(!HAS_TESTDATA)('ONNX round trip (onnxruntime-node bit-identical)', () => {
  for (const suite of SUITES) {
    it(`${suite}: re-exported models compute bit-identical outputs`, { timeout: 300_000 }, async () => {
      const failures: string[] = [];
      let checked = 0;
      let skipped = 0;
      const opsetChanged: string[] = [];
      for (const name of listCases(suite)) {
        const dir = join(TESTDATA_DIR, suite, name);
        const original = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
        let c;
        try {
          c = await loadCase(dir);
        } catch {
          skipped++; // inputs of a kind the harness cannot decode
          continue;
        }
        const ds = c.dataSets[0];
        if (!ds || !Object.values(ds.inputs).every(isTensor)) {
          skipped++;
          continue;
        }
        const feeds = ds.inputs as Record<string, Tensor>;
        let expected: Tensor[];
        try {
          expected = await runOrt(original, feeds);
        } catch {
          skipped++;
          continue;
        }
        try {
          const model = await importOnnx(original, { name: dir });
          const bytes = exportOnnx(model).files.get('model.onnx')!;
          const wrote = longToNumber(decodeOnnxMessage<ModelPb>('ModelProto', bytes).opset_import!.find((o) => !o.domain)!.version);
          if (wrote !== model.sourceOpsets['']) opsetChanged.push(`${name}: ${model.sourceOpsets['']} → ${wrote}`);
          const actual = await runOrt(bytes, feeds);
          const bad = expected.findIndex((e, i) => !actual[i] || !tensorsBitEqual(actual[i]!, e));
          if (actual.length !== expected.length || bad >= 0) failures.push(`${name}: output ${bad} differs`);
        } catch (e) {
          failures.push(`${name}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200)}`);
        }
        checked++;
      }
      console.log(`${suite}: ${checked} models round-tripped, ${skipped} skipped (onnxruntime-node cannot run the original or its inputs), ${failures.length} failures`);
      expect(checked).toBeGreaterThan(0);
      expect(failures, failures.join('\n')).toEqual([]);
      // Written back at the source opset; the one exception keeps Resize-11's optional-input form.
      expect(opsetChanged.length, opsetChanged.join('\n')).toBeLessThanOrEqual(1);
    });
  }
});
