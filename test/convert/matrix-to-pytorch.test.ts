/**
 * IR → PyTorch details the matrix does not show by itself: the module constructors carry the
 * source's hyper-parameters (BatchNorm eps/momentum as PyTorch 1.13 was given them in
 * fixtures/convert/make_fixtures.py), what cannot be expressed fails naming the node, and
 * `--allow-custom` keeps an out-of-layer weight as a buffer of the generic `Custom` module whose
 * generated forward computes what the IR computes (checked against the IR run by Session).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { bindWeights } from '../../src/convert/binding.js';
import { planPyTorch } from '../../src/convert/to-pytorch.js';
import { toPyTorch } from '../../src/exporters/typescript/index.js';
import { importFile } from '../../src/importers/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { emptyGraph, emptyModel, makeNode, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { seededRandom, Session } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';

const FIX = join(PROJECT_ROOT, 'fixtures', 'convert');

async function convBnDw(): Promise<Model> {
  const open = async (p: string) => importFile({ name: p, bytes: new Uint8Array(readFileSync(p)) });
  const a = await open(join(FIX, 'conv_bn_dw.onnx'));
  const w = await open(join(FIX, 'conv_bn_dw.pt'));
  if (a.kind !== 'model' || w.kind !== 'weights') throw new Error('fixture kinds');
  return bindWeights(a.model, w.weights).model;
}

function random(shape: number[], seed: number): Tensor {
  const r = seededRandom(seed);
  const t = new Tensor('float32', shape);
  (t.data as Float32Array).forEach((_, i, d) => (d[i] = r() * 2 - 1));
  return t;
}

/** x [1, 65, 64] · W (a weight outside any torch.nn layer) → Relu. */
function scaleModel(): Model {
  const g = emptyGraph();
  g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [1, 65, 64] } });
  g.outputs.push({ name: 'y', type: { kind: 'tensor', dtype: 'float32' } });
  g.initializers.set('scale.w', random([65, 64], 3));
  g.nodes.push(makeNode('Mul', ['x', 'scale.w'], ['m'], {}, { name: 'scale_mul', scope: 'scale' }));
  g.nodes.push(makeNode('Relu', ['m'], ['y'], {}, { name: 'relu' }));
  return emptyModel(g);
}

describe('IR → PyTorch', () => {
  it('BatchNorm modules get the eps and momentum PyTorch was given (1e-3/0.01 and the defaults 1e-5/0.1)', async () => {
    const plan = planPyTorch(await convBnDw());
    const bn = plan.layers.filter((l) => l.className === 'BatchNorm2d').map((l) => [l.path, l.args[1]]);
    expect(bn).toEqual([
      ['bn', { eps: 0.001, momentum: 0.01 }],
      ['bn2', { eps: 0.00001, momentum: 0.1 }],
    ]);
    expect(plan.layers.find((l) => l.path === 'dw')?.args).toEqual([8, 16, [3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 8, bias: true }]);
  });

  it('an inexpressible node is E_UNSUPPORTED_OP naming it and saying what is needed', () => {
    const g = emptyGraph();
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [2, 3, 4] } });
    g.outputs.push({ name: 'y' });
    g.initializers.set('W', random([1, 12, 4], 1));
    g.initializers.set('R', random([1, 12, 4], 2));
    g.nodes.push(makeNode('GRU', ['x', 'W', 'R'], ['y'], { hidden_size: { type: 'int', value: 4 }, linear_before_reset: { type: 'int', value: 0 } }, { name: 'my_gru', scope: 'gru' }));
    let err: unknown;
    try {
      planPyTorch(emptyModel(g));
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_UNSUPPORTED_OP');
    expect((err as Error).message).toMatch(/GRU node 'my_gru' uses linear_before_reset = 0.*node my_gru.*custom GRU cell/s);
  });

  it('generated modules type-check under strict TypeScript (RNN destructuring, constants, containers)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rosetta-tsc-'));
    const files: string[] = [];
    for (const name of ['rnn_model', 'image_classifier', 'attn_model']) {
      const p = join(FIX, `${name}.onnx`);
      const r = await importFile({ name: p, bytes: new Uint8Array(readFileSync(p)) });
      if (r.kind !== 'model') throw new Error('model expected');
      const file = join(dir, `${name}.ts`);
      writeFileSync(file, toPyTorch(r.model, { imports: { nn: join(PROJECT_ROOT, 'src/nn/index.js'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.js') } }).source);
      files.push(file);
    }
    const program = ts.createProgram(files, { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] });
    const problems = files.flatMap((f) => ts.getPreEmitDiagnostics(program, program.getSourceFile(f)).map((d) => `${f}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`));
    expect(problems).toEqual([]);
  }, 60_000);

  it('inconsistent RNN weights from an untrusted file are E_INVALID_GRAPH, not a crash', () => {
    const g = emptyGraph();
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [2, 3, 4] } });
    g.outputs.push({ name: 'y' });
    g.initializers.set('W', random([1, 16, 4], 1));
    g.initializers.set('R', random([1, 16, 3], 2)); // H would be 4
    g.nodes.push(makeNode('LSTM', ['x', 'W', 'R'], ['y'], { hidden_size: { type: 'int', value: 4 } }, { name: 'bad_lstm' }));
    expect(() => planPyTorch(emptyModel(g))).toThrow(/E_INVALID_GRAPH: LSTM node 'bad_lstm' has inconsistent weights: W \[1,16,4\], R \[1,16,3\]/);
  });

  it('hostile node names, op types and attribute names cannot inject code into the generated module', () => {
    const payload = "x\n__pwn(1); /* */ __pwn(2) // ' \" `${__pwn(3)}`";
    const g = emptyGraph();
    g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [2, 3] } });
    g.outputs.push({ name: 'y' });
    g.nodes.push(makeNode(`Relu'); __pwn(4); ('`, ['x'], ['y'], { [`a'});__pwn(5);({b:'`]: { type: 'string', value: payload } }, { name: payload, scope: payload }));
    const src = toPyTorch(emptyModel(g), { source: payload, stateDictFile: payload }).source;
    // Every call in the printed program, found by the TypeScript parser: none may be __pwn.
    const file = ts.createSourceFile('m.ts', src, ts.ScriptTarget.ES2022, true);
    const calls: string[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) calls.push(node.expression.getText(file));
      ts.forEachChild(node, visit);
    };
    visit(file);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.includes('__pwn'))).toEqual([]);
  });

  it('a weight outside torch.nn layers is refused, and kept as a Custom buffer with --allow-custom', async () => {
    const m = scaleModel();
    expect(() => planPyTorch(m)).toThrow(/E_UNSUPPORTED_OP: Mul node 'scale_mul' takes the 65×64 weight 'scale.w'.*--allow-custom/s);
    const form = toPyTorch(m, { allowCustom: true, imports: { nn: join(PROJECT_ROOT, 'src/nn/index.ts'), tensor: join(PROJECT_ROOT, 'src/ir/tensor.ts') } });
    expect([...form.stateDict.keys()]).toEqual(['custom.scale_w']);
    expect(form.plan.rewrites.map((r) => r.kind)).toContain('custom-buffers');
    const file = join(mkdtempSync(join(tmpdir(), 'rosetta-custom-')), 'scale.ts');
    writeFileSync(file, form.source);
    const mod = (await import(/* @vite-ignore */ file)) as { ConvertedModel: new () => { eval(): { loadStateDict(sd: Map<string, Tensor>): unknown; run(x: Tensor): Promise<unknown> } } };
    const net = new mod.ConvertedModel().eval();
    net.loadStateDict(form.stateDict);
    const x = random([1, 65, 64], 9);
    const got = (await net.run(x)) as Tensor;
    const want = (await (await Session.create(m)).run({ x })).outputs.y as Tensor;
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });
});
