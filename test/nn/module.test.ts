/**
 * The Module API: state-dict keys and order, loadStateDict reports (strict throws E_BINDING with
 * the report attached), train/eval, frozen parameters, gradient accumulation, the cached `run`
 * path, toModel (scopes, graph.params) and DataLoader batching/seeded shuffling. Expected values
 * come from the model's own eager trace or from PyTorch fixtures, never typed in.
 */
import { describe, expect, it } from 'vitest';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { Session } from '../../src/runtime/session.js';
import { expectClose, loadFixture, withPrefix } from './helpers.js';
import { ConvBN, ImageClassifier, SimpleLinearModel } from './models.js';

describe('Module', () => {
  it('names parameters like PyTorch and lists children', () => {
    const m = new ImageClassifier();
    expect(m.namedParameters().map(([k]) => k)).toEqual([
      'features.0.weight', 'features.0.bias', 'features.3.weight', 'features.3.bias',
      'classifier.1.weight', 'classifier.1.bias', 'classifier.4.weight', 'classifier.4.bias',
    ]);
    expect(m.namedChildren().map(([k]) => k)).toEqual(['features', 'classifier']);
    expect(new ConvBN().namedBuffers().map(([k]) => k)).toEqual(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
  });

  it('loadStateDict reports missing, unexpected and mis-shaped keys; strict throws E_BINDING', () => {
    const m = new SimpleLinearModel();
    const sd = new Map<string, Tensor>([
      ['linear.weight', new Tensor('float32', [2, 1])],
      ['extra', new Tensor('float32', [1])],
    ]);
    const report = m.loadStateDict(sd, { strict: false });
    expect(report).toEqual({ missing: ['linear.bias'], unexpected: ['extra'], shapeMismatch: [{ key: 'linear.weight', expected: [1, 1], got: [2, 1] }] });
    let err: unknown;
    try {
      m.loadStateDict(sd);
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_BINDING');
    expect(isRosettaError(err) && err.detail).toEqual(report);
  });

  it('loads float16/float64 tensors by value and refuses strings (E_DTYPE_MISMATCH)', () => {
    const m = new SimpleLinearModel();
    m.loadStateDict({ 'linear.weight': Tensor.from('float16', [1, 1], [0.5]), 'linear.bias': Tensor.from('float64', [1], [-2]) });
    expect([m.linear.weight.data.get(0), m.linear.bias!.data.get(0)]).toEqual([0.5, -2]);
    let err: unknown;
    try {
      m.loadStateDict({ 'linear.bias': Tensor.from('float32', [1], [7]), 'linear.weight': Tensor.from('string', [1, 1], ['x']) });
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_DTYPE_MISMATCH');
    expect(m.linear.bias!.data.get(0)).toBe(-2); // nothing was loaded
  });

  it('frozen parameters get no gradient; repeated backward accumulates', async () => {
    const arrays = loadFixture('image_classifier');
    const m = new ImageClassifier();
    m.loadStateDict(withPrefix(arrays, 'sd.'));
    m.eval();
    m.features.requiresGrad(false);
    const x = arrays.get('x0')!;
    const y = arrays.get('y')!;
    const crit = new nn.CrossEntropyLoss();
    await crit.callVar(m.callVar(x), y).backward();
    expect(m.namedParameters().filter(([, p]) => p.grad).map(([k]) => k)).toEqual(['classifier.1.weight', 'classifier.1.bias', 'classifier.4.weight', 'classifier.4.bias']);
    const once = new Tensor('float32', m.classifier[4]!.parameters()[1]!.grad!.shape, (m.classifier[4]!.parameters()[1]!.grad!.data as Float32Array).slice());
    await crit.callVar(m.callVar(x), y).backward();
    const twice = m.classifier[4]!.parameters()[1]!.grad!;
    expectClose(twice, new Tensor('float32', once.shape, (once.data as Float32Array).map((v) => 2 * v)));
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('eval() switches Dropout off and BatchNorm to running statistics; train() back', () => {
    const m = new ConvBN();
    const x = loadFixture('conv_bn').get('x0')!;
    m.eval();
    const before = m.bn.running_mean!.data.toNumbers();
    m.callVar(x);
    expect(m.bn.running_mean!.data.toNumbers()).toEqual(before);
    m.train();
    m.callVar(x);
    expect(m.bn.running_mean!.data.toNumbers()).not.toEqual(before);
    expect(m.bn.num_batches_tracked!.data.get(0)).toBe(1);
  });

  it('run() caches the traced graph per input signature and sees weight updates', async () => {
    const m = new SimpleLinearModel().eval();
    const x = Tensor.from('float32', [3, 1], [1, 2, 3]);
    const a = (await m.run(x)) as Tensor;
    const direct = m.callVar(x).value;
    expectClose(a, direct);
    (m.linear.weight.data.data as Float32Array)[0] = 2;
    (m.linear.bias!.data.data as Float32Array)[0] = 0.5;
    const b = (await m.run(x)) as Tensor; // cached Session, in-place weights
    expect(b.toNumbers()).toEqual([2.5, 4.5, 6.5]);
  });

  it('toModel gives an IR Model with scopes and parameter info that runs to the same outputs', async () => {
    const arrays = loadFixture('image_classifier');
    const m = new ImageClassifier();
    m.loadStateDict(withPrefix(arrays, 'sd.'));
    const model = m.toModel([[4, 1, 28, 28]]);
    const g = model.graph;
    expect(g.inputs.map((i) => i.name)).toEqual(['input']);
    expect(new Set(g.nodes.map((n) => n.scope))).toEqual(new Set(['features.0', 'features.1', 'features.2', 'features.3', 'features.4', 'features.5', 'classifier.0', 'classifier.1', 'classifier.2', 'classifier.4']));
    expect([...g.params.keys()]).toEqual(m.namedParameters().map(([k]) => k));
    expect(g.params.get('classifier.1.weight')).toMatchObject({ scope: 'classifier.1', trainable: true, role: 'weight' });
    expect(g.nodes.some((n) => n.opType === 'Dropout')).toBe(false);
    const s = await Session.create(model);
    const { outputs } = await s.run({ input: arrays.get('x0')! });
    expectClose(outputs[g.outputs[0]!.name] as Tensor, arrays.get('out0')!);
  });
});

describe('noGrad', () => {
  it('keeps high-level ops whole on the tape and refuses backward (E_USAGE)', async () => {
    const lstm = new nn.LSTM(3, 4);
    const x = Tensor.from('float32', [5, 2, 3], Array.from({ length: 30 }, (_, i) => Math.cos(i)));
    const [withGrad] = lstm.call(x) as [nn.Var, unknown];
    const [y] = (await nn.noGrad(() => lstm.call(x))) as [nn.Var, unknown];
    expect(y.trace.tape.nodes.some((n) => n.opType === 'LSTM')).toBe(true);
    expect(withGrad.trace.tape.nodes.some((n) => n.opType === 'LSTM')).toBe(false);
    expectClose(y.value, withGrad.value, { rtol: 1e-5, atol: 1e-6 });
    let err: unknown;
    try {
      await y.sum().backward();
    } catch (e) {
      err = e;
    }
    expect(isRosettaError(err) && err.code).toBe('E_USAGE');
  });
});

describe('LSTM inter-layer dropout', () => {
  it('drops between layers in training only, and back-propagates through the mask', async () => {
    nn.initSeed(3);
    const lstm = new nn.LSTM(3, 4, { numLayers: 2, dropout: 0.5 });
    const x = Tensor.from('float32', [5, 2, 3], Array.from({ length: 30 }, (_, i) => Math.sin(i)));
    lstm.eval();
    const a = (lstm.call(x) as [nn.Var, unknown])[0].value.toNumbers();
    const b = (lstm.call(x) as [nn.Var, unknown])[0].value.toNumbers();
    expect(b).toEqual(a);
    lstm.train();
    const [y] = lstm.call(x) as [nn.Var, unknown];
    expect(y.value.toNumbers()).not.toEqual(a);
    await y.sum().backward();
    expect(lstm.parameters().every((p) => p.grad !== null)).toBe(true);
  });
});

describe('DataLoader', () => {
  const x = Tensor.from('float32', [10, 2], Array.from({ length: 20 }, (_, i) => i));
  const y = Tensor.from('int64', [10], Array.from({ length: 10 }, (_, i) => BigInt(i)));
  it('batches in order without shuffling, last batch smaller unless dropLast', () => {
    const batches = [...new nn.DataLoader([x, y], { batchSize: 4 })];
    expect(batches.map((b) => b[1]!.toNumbers())).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(batches[2]![0]!.toNumbers()).toEqual([16, 17, 18, 19]);
    expect([...new nn.DataLoader([x, y], { batchSize: 4, dropLast: true })].length).toBe(2);
  });
  it('seeded shuffling: a permutation per epoch, reproducible from the seed', () => {
    const epoch = (dl: nn.DataLoader): number[] => [...dl].flatMap((b) => b[1]!.toNumbers());
    const a = new nn.DataLoader([x, y], { batchSize: 3, shuffle: true, seed: 7 });
    const b = new nn.DataLoader([x, y], { batchSize: 3, shuffle: true, seed: 7 });
    const e1 = epoch(a);
    expect([...e1].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e1).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch(b)).toEqual(e1);
    expect(epoch(a)).not.toEqual(e1);
    // rows stay paired across tensors
    for (const [bx, by] of new nn.DataLoader([x, y], { batchSize: 4, shuffle: true, seed: 1 })) {
      by!.toNumbers().forEach((r, i) => expect(bx!.toNumbers().slice(2 * i, 2 * i + 2)).toEqual([2 * r, 2 * r + 1]));
    }
  });
});
