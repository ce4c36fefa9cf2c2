/**
 * The CLI on hostile files (issue: untrusted input never runs code and never crashes).
 *
 * `main(argv, io)` (src/cli/main.ts) must answer a broken or hostile file with exit code 1 and a
 * stderr message that starts with the RosettaError code and carries no stack trace; names inside
 * a file that try to escape (`../x`, absolute paths in a tfjs weights manifest or in ONNX external
 * data, graph output names used as file names by `run`) must never read or write outside the
 * model's / target's folder. Each case runs in its own temp dir inside a sandbox folder, and the
 * sandbox is listed before and after to prove nothing appeared beside it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { writeNpy } from '../../src/formats/npy.js';
import { Tensor } from '../../src/ir/tensor.js';
import { HAS_CORPUS, PROJECT_ROOT, corpusPath } from '../helpers/corpus.js';

const SANDBOX = mkdtempSync(join(tmpdir(), 'rosetta-cli-hostile-'));
afterAll(() => rmSync(SANDBOX, { recursive: true, force: true }));

/** Every file below `dir`, relative, sorted. */
function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    if (e.isDirectory()) out.push(`${rel}/`, ...listTree(join(dir, e.name), `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), isTTY: false };
  const code = await main(argv, io);
  return { code, out, err };
}

/** Expect exit 1 with `E_CODE: ...` first on stderr and no stack frames. */
function expectRefusal(r: { code: number; err: string }, codes: string[]): void {
  expect(r.code, r.err).toBe(1);
  const first = r.err.split(':')[0]!;
  expect(codes, r.err).toContain(first);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).not.toContain('E_INTERNAL');
}

const f32 = (dims: number[]): Record<string, unknown> => ({ tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => ({ dim_value: d })) } } });
function onnxModel(graph: Record<string, unknown>): Uint8Array {
  return encodeOnnxMessage('ModelProto', { ir_version: 8, opset_import: [{ domain: '', version: 13 }], producer_name: 'rosetta-test', graph });
}

/** A case folder `SANDBOX/<name>/model/` plus a decoy `SANDBOX/<name>/secret.bin` beside it. */
function caseDir(name: string): { root: string; model: string } {
  const root = join(SANDBOX, name);
  const model = join(root, 'model');
  mkdirSync(model, { recursive: true });
  writeFileSync(join(root, 'secret.bin'), new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
  return { root, model };
}

describe('CLI on broken files: exit 1, code first, no stack', () => {
  it('truncated ONNX, garbage, empty file and a pickle with a forbidden global', async () => {
    const { model } = caseDir('broken');
    const onnx = readFileSync(join(PROJECT_ROOT, 'fixtures/models/mlp.onnx'));
    writeFileSync(join(model, 'cut.onnx'), onnx.subarray(0, 1000));
    writeFileSync(join(model, 'junk.bin'), new Uint8Array(300).fill(0xab));
    writeFileSync(join(model, 'empty.onnx'), new Uint8Array(0));
    for (const cmd of ['inspect', 'run']) {
      const extra = cmd === 'run' ? ['--out', join(model, 'out')] : [];
      expectRefusal(await cli([cmd, join(model, 'cut.onnx'), ...extra]), ['E_TRUNCATED', 'E_BAD_FORMAT']);
      expectRefusal(await cli([cmd, join(model, 'junk.bin'), ...extra]), ['E_UNKNOWN_FORMAT', 'E_BAD_FORMAT']);
      expectRefusal(await cli([cmd, join(model, 'empty.onnx'), ...extra]), ['E_TRUNCATED', 'E_BAD_FORMAT', 'E_UNKNOWN_FORMAT']);
    }
    expectRefusal(await cli(['convert', join(model, 'cut.onnx'), join(model, 'o.safetensors')]), ['E_TRUNCATED', 'E_BAD_FORMAT']);
    expect(existsSync(join(model, 'o.safetensors'))).toBe(false);
    expect(existsSync(join(model, 'out'))).toBe(false);
  });

  it.skipIf(!HAS_CORPUS)('pickle calling os.system (corpus bad/) is refused as unsafe (skipped without the corpus)', async () => {
    const r = await cli(['inspect', corpusPath('bad', 'picklescan_malicious0.pkl'), '--from', 'pytorch']);
    expectRefusal(r, ['E_UNSAFE_CONTENT', 'E_BAD_FORMAT']);
  });
});

describe('escaping names never leave the folder', () => {
  it('ONNX external data at ../secret.bin and at an absolute path is refused (E_PATH_ESCAPE)', async () => {
    for (const [label, location] of [
      ['ext-dotdot', '../secret.bin'],
      ['ext-abs', join(SANDBOX, 'ext-abs', 'secret.bin')],
      ['ext-nested', 'a/../../secret.bin'],
    ] as const) {
      const { root, model } = caseDir(label);
      const m = onnxModel({
        name: 'g',
        node: [{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }],
        initializer: [{ name: 'w', dims: [4], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: location }, { key: 'length', value: '16' }] }],
        input: [{ name: 'x', type: f32([4]) }],
        output: [{ name: 'y', type: f32([4]) }],
      });
      writeFileSync(join(model, 'm.onnx'), m);
      const before = listTree(root);
      expectRefusal(await cli(['run', join(model, 'm.onnx'), '--out', join(model, 'out')]), ['E_PATH_ESCAPE']);
      expectRefusal(await cli(['convert', join(model, 'm.onnx'), join(model, 'c.onnx')]), ['E_PATH_ESCAPE']);
      expect(listTree(root)).toEqual(before);
    }
  });

  it('graph output names `../x`, `/abs/x` and `a/../../x` are written inside --out only', async () => {
    const { root, model } = caseDir('out-names');
    const names = ['../escaped', join(SANDBOX, 'abs-escaped'), 'a/../../deep-escaped', '..', '.'];
    const m = onnxModel({
      name: 'g',
      node: names.map((n, i) => ({ op_type: 'Relu', input: ['x'], output: [n], name: `r${i}` })),
      input: [{ name: 'x', type: f32([2]) }],
      output: names.map((n) => ({ name: n, type: f32([2]) })),
    });
    writeFileSync(join(model, 'm.onnx'), m);
    const sandboxBefore = listTree(SANDBOX).filter((p) => !p.startsWith('out-names/'));
    writeFileSync(join(model, 'x.npy'), writeNpy(new Tensor('float32', [2], new Float32Array([-1, 2]))));
    const r = await cli(['run', join(model, 'm.onnx'), '--input', `x=${join(model, 'x.npy')}`, '--out', join(model, 'out')]);
    expect(r.code, r.err).toBe(0);
    const written = readdirSync(join(model, 'out'));
    expect(written.length).toBe(names.length);
    for (const f of written) expect(f).toMatch(/^[^/\\]+\.npy$/);
    expect(listTree(root).filter((p) => !p.startsWith('model/'))).toEqual(['secret.bin']);
    expect(listTree(SANDBOX).filter((p) => !p.startsWith('out-names/'))).toEqual(sandboxBefore);
    expect(existsSync(join(SANDBOX, 'abs-escaped.npy'))).toBe(false);
  });

  describe.skipIf(!HAS_CORPUS)('tfjs weights manifest paths (corpus tfjs/embedding_gru; skipped without the corpus)', () => {
    for (const [label, path] of [
      ['tfjs-dotdot', '../secret.bin'],
      ['tfjs-abs', '/etc/passwd'],
      ['tfjs-backslash', '..\\secret.bin'],
    ] as const) {
      it(`manifest path ${JSON.stringify(path)} is refused (E_PATH_ESCAPE)`, async () => {
        const { root, model } = caseDir(label);
        const json = JSON.parse(readFileSync(corpusPath('tfjs', 'embedding_gru', 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
        json.weightsManifest[0]!.paths = [path];
        writeFileSync(join(model, 'model.json'), JSON.stringify(json));
        writeFileSync(join(model, 'weights.bin'), readFileSync(corpusPath('tfjs', 'embedding_gru', 'weights.bin')));
        const before = listTree(root);
        expectRefusal(await cli(['inspect', join(model, 'model.json')]), ['E_PATH_ESCAPE']);
        expectRefusal(await cli(['convert', join(model, 'model.json'), join(model, 'c.onnx')]), ['E_PATH_ESCAPE']);
        expect(listTree(root)).toEqual(before);
      });
    }
  });

  it('convert output to a tfjs folder never writes shards outside it', async () => {
    const { root, model } = caseDir('tfjs-out');
    const before = listTree(SANDBOX).filter((p) => !p.startsWith('tfjs-out/'));
    const r = await cli(['convert', join(PROJECT_ROOT, 'fixtures/models/mlp.onnx'), join(model, 'out', 'model.json')]);
    // Either it converts (files inside model/out) or it refuses with a code; never writes elsewhere.
    if (r.code !== 0) expectRefusal(r, ['E_UNSUPPORTED_OP', 'E_UNSUPPORTED', 'E_UNSUPPORTED_LAYER']);
    else expect(readdirSync(join(model, 'out')).length).toBeGreaterThan(0);
    expect(listTree(root).filter((p) => !p.startsWith('model/'))).toEqual(['secret.bin']);
    expect(listTree(SANDBOX).filter((p) => !p.startsWith('tfjs-out/'))).toEqual(before);
  });
});
