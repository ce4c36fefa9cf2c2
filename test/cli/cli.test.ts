/**
 * The `rosetta` CLI run in-process through `main(argv, io)` on the fixture models.
 * Goldens: fixtures/models/*.outputs.npz are PyTorch 1.13's outputs for *.inputs.npz, written by
 * fixtures/models/make_models.py; the ONNX TensorProto case uses the ONNX project's own backend
 * test data (Debian libonnx-testdata) and is skipped visibly when that package is absent.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { safeFileStem } from '../../src/cli/feeds.js';
import { readNpy, readNpz, writeNpy } from '../../src/formats/npy.js';
import { Tensor } from '../../src/ir/tensor.js';
import { compareTensors } from '../../src/cli/compare.js';
import { loadModel, saveModel } from '../../src/node/index.js';
import { HAS_CORPUS, PROJECT_ROOT, corpusPath } from '../helpers/corpus.js';
import { TESTDATA_DIR } from '../../scripts/conformance-case.js';

const MODELS = join(PROJECT_ROOT, 'fixtures', 'models');
const TESTDATA = TESTDATA_DIR;
const HAS_TESTDATA = existsSync(join(TESTDATA, 'node', 'test_relu'));
if (!HAS_TESTDATA) console.warn(`[rosetta tests] ONNX backend test data not found at ${TESTDATA}: the .pb input test is skipped`);

/** Run the CLI, capturing its output. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err };
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'rosetta-cli-'));
const model = (name: string): string => join(MODELS, name);

describe('rosetta inspect', () => {
  it('prints format, producer, opset, inputs/outputs, parameters and ops as tables', async () => {
    const r = await cli('inspect', model('mnist-cnn.onnx'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/format\s+onnx/);
    expect(r.out).toMatch(/producer\s+pytorch 1\.13/);
    expect(r.out).toMatch(/ai\.onnx 17/);
    expect(r.out).toMatch(/input\s+input\s+float32\s+\[batch, 1, 28, 28\]/);
    expect(r.out).toMatch(/output\s+logits\s+float32\s+\[batch, 10\]/);
    // Conv 1→32 (320) + Conv 32→64 (18,496) + Linear 3136→128 (401,536) + Linear 128→10 (1,290)
    expect(r.out).toContain('421,642');
    expect(r.out).toMatch(/Conv\s+2/);
  });

  it('prints JSON with --json', async () => {
    const r = await cli('inspect', model('lstm.onnx'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.kind).toBe('model');
    expect(j.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: ['batch', 20, 16] }]);
    expect(j.ops.LSTM).toBe(1);
    // LSTM(16→64): W 4·64·16 (4,096) + R 4·64·64 (16,384) + B 8·64 (512); head 64·4 + 4 (260)
    expect(j.parameters.count).toBe(21_252);
    expect(j.parameters.tensors).toBe(5);
    expect(j.parameters.bytes).toBe(j.parameters.count * 4);
  });
});

describe('rosetta run', () => {
  it.each([
    ['mnist-cnn', 'logits'],
    ['mlp', 'probs'],
    ['lstm', 'output'],
  ])('%s matches PyTorch outputs', async (name, out) => {
    const dir = tmp();
    const r = await cli('run', model(`${name}.onnx`), '--inputs', model(`${name}.inputs.npz`), '--out', dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^${out}  float32\\[\\d+,\\d+\\]  min .* max .* mean `, 'm'));
    const got = readNpy(new Uint8Array(readFileSync(join(dir, `${out}.npy`))));
    const want = readNpz(new Uint8Array(readFileSync(model(`${name}.outputs.npz`)))).get(out)!;
    const cmp = compareTensors(out, want, got, { rtol: 1e-4, atol: 1e-5 });
    expect(cmp.problem).toBeUndefined();
    expect(cmp.ok, `max abs err ${cmp.maxAbsError}`).toBe(true);
  });

  it('takes --input NAME=FILE.npy', async () => {
    const dir = tmp();
    const x = readNpz(new Uint8Array(readFileSync(model('mlp.inputs.npz')))).get('input')!;
    writeFileSync(join(dir, 'x.npy'), writeNpy(x));
    const r = await cli('run', model('mlp.onnx'), '--input', `input=${join(dir, 'x.npy')}`, '--out', join(dir, 'out'));
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'out', 'probs.npy'))).toBe(true);
  });

  it.skipIf(!HAS_TESTDATA)('takes ONNX TensorProto .pb inputs (ONNX backend test data, test_relu)', async () => {
    const dir = tmp();
    const base = join(TESTDATA, 'node', 'test_relu');
    const r = await cli('run', join(base, 'model.onnx'), '--input', `x=${join(base, 'test_data_set_0', 'input_0.pb')}`, '--out', dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { decodeTensorProto } = await import('../../src/importers/onnx/index.js');
    const want = decodeTensorProto(new Uint8Array(readFileSync(join(base, 'test_data_set_0', 'output_0.pb'))));
    const got = readNpy(new Uint8Array(readFileSync(join(dir, 'y.npy'))));
    expect(compareTensors('y', want, got, { rtol: 0, atol: 0 }).ok).toBe(true);
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli('run', model('mlp.onnx'))).code).toBe(2); // --out missing
    expect((await cli('run', model('mlp.onnx'), '--input', 'noequals', '--out', tmp())).code).toBe(2);
    const wrongName = await cli('run', model('mlp.onnx'), '--input', `nope=${model('x.npy')}`, '--out', tmp());
    expect(wrongName.code).not.toBe(0);
    expect((await cli('frobnicate')).code).toBe(2);
    const backend = await cli('run', model('mlp.onnx'), '--inputs', model('mlp.inputs.npz'), '--out', tmp(), '--backend', 'nope');
    expect(backend.code).toBe(2);
    expect(backend.err).toMatch(/^E_USAGE: unknown backend 'nope'.*available: cpu/);
    expect((await cli()).code).toBe(2);
  });

  it('names unknown feeds and lists the real inputs', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'x.npy'), writeNpy(new Tensor('float32', [1, 784])));
    const r = await cli('run', model('mlp.onnx'), '--input', `wrong=${join(dir, 'x.npy')}`, '--out', dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^E_USAGE: .*'wrong'.*its inputs are: input/);
  });

  it('exits 1 with the typed message and no stack on failures', async () => {
    const dir = tmp();
    const missing = await cli('run', model('mlp.onnx'), '--out', dir);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^E_MISSING_INPUT: /);
    writeFileSync(join(dir, 'junk.onnx'), new Uint8Array([0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    const junk = await cli('inspect', join(dir, 'junk.onnx'));
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/^E_[A-Z_]+: /);
    expect(junk.err).not.toMatch(/\n\s+at /);
    const absent = await cli('inspect', join(dir, 'absent.onnx'));
    expect(absent.code).toBe(1);
    expect(absent.err).toMatch(/^E_IO: /);
  });

  it('makes output names file-safe and unique', () => {
    const taken = new Set<string>();
    expect(safeFileStem('logits:0', taken)).toBe('logits_0');
    const climb = safeFileStem('../../etc/passwd', taken);
    expect(climb).not.toMatch(/^\.|\//);
    expect(climb).toBe('__.._etc_passwd');
    expect(safeFileStem('logits/0', taken)).toBe('logits_0_1');
    expect(safeFileStem('', taken)).toBe('output');
  });
});

describe('rosetta parity', () => {
  it('passes for a model against itself on random inputs', async () => {
    const r = await cli('parity', model('mnist-cnn.onnx'), model('mnist-cnn.onnx'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/logits\s+float32\s+\[1,10\]\s+0\s+0\s+yes/);
  });

  it('prints JSON and uses --inputs', async () => {
    const r = await cli('parity', model('lstm.onnx'), model('lstm.onnx'), '--inputs', model('lstm.inputs.npz'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ok).toBe(true);
    expect(j.outputs[0].shape).toEqual([3, 4]);
  });

  it('fails with exit 1 when one weight differs', async () => {
    const dir = tmp();
    const m = await loadModel(model('lstm.onnx'));
    const [name, w] = [...m.graph.initializers].find(([, t]) => t.rank === 2)!;
    const data = (w.data as Float32Array).slice();
    data[0]! += 0.5;
    m.graph.initializers.set(name, new Tensor('float32', w.shape, data));
    await saveModel(m, join(dir, 'changed.onnx'));
    const r = await cli('parity', model('lstm.onnx'), join(dir, 'changed.onnx'), '--inputs', model('lstm.inputs.npz'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/output\s+float32\s+\[3,4\].*NO \(\d+ elements\)/);
    expect(r.err).toMatch(/^E_PARITY: /);
  });

  it('reports models whose inputs do not fit each other as a failure', async () => {
    const r = await cli('parity', model('mnist-cnn.onnx'), model('mlp.onnx'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^E_[A-Z_]+: /);
  });
});

describe('rosetta convert', () => {
  it('converts ONNX → ONNX with --optimize --verify and writes a JSON report', async () => {
    const dir = tmp();
    const out = join(dir, 'nested', 'lstm.onnx');
    const r = await cli('convert', model('lstm.onnx'), out, '--optimize', '--verify', '--report', join(dir, 'report.json'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/optimize: folded \d+ node/);
    expect(r.out).toMatch(/rewrites: none|rewrites \(\d+\)/);
    expect(r.out).toMatch(/output\s+float32\s+\[1,4\]\s+0\s+0\s+yes/);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ from: 'onnx', to: 'onnx', kind: 'model', verify: { ok: true, inputs: 'random (seed 0)' } });
    expect(report.optimize.folded).toBeGreaterThan(0);
    // the optimised file still matches PyTorch on the fixture inputs
    const run = await cli('run', out, '--inputs', model('lstm.inputs.npz'), '--out', join(dir, 'run'));
    expect(run.code).toBe(0);
    const want = readNpz(new Uint8Array(readFileSync(model('lstm.outputs.npz')))).get('output')!;
    const got = readNpy(new Uint8Array(readFileSync(join(dir, 'run', 'output.npy'))));
    expect(compareTensors('output', want, got, { rtol: 1e-4, atol: 1e-5 }).ok).toBe(true);
  });

  it('verifies on given --inputs and honours --opset', async () => {
    const dir = tmp();
    const r = await cli('convert', model('mnist-cnn.onnx'), join(dir, 'cnn13.onnx'), '--opset', '13', '--verify', '--inputs', model('mnist-cnn.inputs.npz'), '--rtol', '0', '--atol', '0');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/logits\s+float32\s+\[2,10\]\s+0\s+0\s+yes/);
    const j = JSON.parse((await cli('inspect', join(dir, 'cnn13.onnx'), '--json')).out);
    expect(j.opsets['']).toBe(13);
  });

  it('exits 2 when the output format cannot be told', async () => {
    const r = await cli('convert', model('mlp.onnx'), join(tmp(), 'mlp.unknown'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^E_USAGE: /);
    expect((await cli('convert', model('mlp.onnx'), 'x.onnx', '--to', 'nonsense')).code).toBe(2);
    expect((await cli('convert', model('mlp.onnx'), 'x.onnx', '--opset', 'seven')).code).toBe(2);
  });
});

describe('rosetta bench', () => {
  it('times a model on its fixture inputs', async () => {
    const r = await cli('bench', model('mlp.onnx'), '--inputs', model('mlp.inputs.npz'), '--iterations', '3', '--warmup', '1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ backend: 'cpu', iterations: 3, warmup: 1 });
    expect(j.minMs).toBeGreaterThan(0);
    expect(j.medianMs).toBeGreaterThanOrEqual(j.minMs);
  });

  it('rejects a non-integer iteration count as a usage error', async () => {
    expect((await cli('bench', model('mlp.onnx'), '--iterations', '0')).code).toBe(2);
  });
});

// `rosetta demo` (both seed programs, parity per format) is tested in test/cli/demo.test.ts.

describe.skipIf(!HAS_CORPUS)('CLI on third-party files (corpus)', () => {
  it('inspects a weights-only file as a tensor table', async () => {
    const r = await cli('inspect', corpusPath('pytorch', 'mnist.pt'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/format\s+pytorch \(weights only\)/);
    expect(r.out).toMatch(/fc1\.weight\s+float32\s+\[32, 11616\]\s+1486848/);
    const j = JSON.parse((await cli('inspect', corpusPath('pytorch', 'mnist.pt'), '--json')).out);
    expect(j.kind).toBe('weights');
    expect(j.tensors).toHaveLength(20);
  });

  it('--key picks another entry of a checkpoint (inspect and convert)', async () => {
    const plain = JSON.parse((await cli('inspect', corpusPath('pytorch', 'checkpoint.pt'), '--json')).out);
    const names = (x: { tensors: { name: string }[] }) => x.tensors.map((t) => t.name);
    expect(names(plain)).toContain('fc1.weight');
    const opt = JSON.parse((await cli('inspect', corpusPath('pytorch', 'checkpoint.pt'), '--json', '--key', 'optimizer_state_dict')).out);
    expect(names(opt).length).toBeGreaterThan(0);
    expect(names(opt)).not.toContain('fc1.weight');
    const dir = tmp();
    const r = await cli('convert', corpusPath('pytorch', 'checkpoint.pt'), join(dir, 'opt.safetensors'), '--key', 'optimizer_state_dict');
    expect(r.code).toBe(0);
    const back = JSON.parse((await cli('inspect', join(dir, 'opt.safetensors'), '--json')).out);
    expect(names(back).sort()).toEqual(names(opt).sort());
    const bad = await cli('inspect', corpusPath('pytorch', 'checkpoint.pt'), '--key', 'no_such_entry');
    expect(bad.code).toBe(2); // E_USAGE is a usage error: exit status 2
    expect(bad.err).toMatch(/^E_USAGE/);
  });

  it('converts a state dict to safetensors and verifies it tensor by tensor', async () => {
    const dir = tmp();
    const r = await cli('convert', corpusPath('pytorch', 'mnist.pt'), join(dir, 'mnist.safetensors'), '--verify');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/verify \(tensor by tensor\)/);
    expect(r.out).toMatch(/fc1\.weight\s+float32\s+\[32,11616\]\s+0\s+0\s+yes/);
  });

  it('converts a Keras HDF5 model to ONNX, printing the layout rewrites, and verifies it', async () => {
    const dir = tmp();
    const r = await cli('convert', corpusPath('keras', 'cnn_batch_norm.h5'), join(dir, 'cnn.onnx'), '--verify');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\(keras-h5\) → .*\(onnx\)/);
    expect(r.out).toMatch(/rewrites \(\d+\):[\s\S]*weight-layout/);
    expect(r.out).toMatch(/yes\n$/);
  });
});

describe('bin/rosetta.js as a process', () => {
  it('sets the exit status and prints the typed error without a stack', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = join(PROJECT_ROOT, 'bin', 'rosetta.js');
    const ok = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim()).toBe('0.1.0');
    const bad = spawnSync(process.execPath, [bin, 'inspect', join(tmp(), 'absent.onnx')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^E_IO: cannot read /);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(spawnSync(process.execPath, [bin, 'nonsense'], { encoding: 'utf8' }).status).toBe(2);
  }, 30_000);
});
