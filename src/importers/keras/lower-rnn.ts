/**
 * Keras recurrent layers → ONNX RNN / LSTM / GRU (seq-major X, so a Transpose on each side).
 * - LSTM gate blocks Keras (i, f, c, o) → ONNX (i, o, f, c); activations [rec, act, act].
 * - GRU keeps (z, r, h); `reset_after=True` (bias [2, 3H]) ⇄ `linear_before_reset=1`,
 *   `reset_after=False` (bias [3H]) ⇄ `linear_before_reset=0` with a zero recurrent bias.
 * - `go_backwards` → direction 'reverse'; with return_sequences Keras emits the outputs in
 *   processing order, so the time axis is reversed again afterwards.
 * - Bidirectional → direction 'bidirectional' with both directions stacked; merge modes concat,
 *   sum, mul, ave (None gives two outputs).
 * - Keras 1 split gate weights (W_i, U_i, b_i, …) are concatenated as Keras 2's legacy loader does.
 * Specs: https://onnx.ai/onnx/operators/onnx__LSTM.html, keras/src/layers/rnn/{lstm,gru}.py.
 */
import { attrFloats, attrInt, attrString, attrStrings } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import { rnnActivation } from './activations.js';
import type { KValue } from './builder.js';
import { type KerasWeight, type LowerCtx, posInt, takeWeights } from './context.js';
import type { NormLayer } from './normalize.js';
import { LSTM_ORDER, permute, reorderGates } from './weight-layout.js';

type Kind = 'SimpleRNN' | 'LSTM' | 'GRU';
const GATES: Record<Kind, number> = { SimpleRNN: 1, LSTM: 4, GRU: 3 };
const ONNX_OP: Record<Kind, string> = { SimpleRNN: 'RNN', LSTM: 'LSTM', GRU: 'GRU' };

function concatLast(ts: Tensor[]): Tensor {
  const lead = ts[0]!.shape.slice(0, -1);
  const rows = lead.reduce((a, x) => a * x, 1);
  const widths = ts.map((t) => t.shape[t.shape.length - 1]!);
  const total = widths.reduce((a, x) => a + x, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let off = 0;
    ts.forEach((t, i) => {
      const w = widths[i]!;
      out.set((t.data as Float32Array).subarray(r * w, r * w + w), r * total + off);
      off += w;
    });
  }
  return new Tensor('float32', [...lead, total], out);
}

/** Keras 1 split-gate weights → Keras 2 (kernel, recurrent_kernel, bias). */
export function keras1Recurrent(kind: Kind, w: KerasWeight[]): KerasWeight[] {
  // Only the exact Keras 1 counts are regrouped; anything else (e.g. no weights found for a
  // hostile layer name) goes on unchanged to takeWeights' count check, which reports it.
  if (!((kind === 'LSTM' && w.length === 12) || (kind === 'GRU' && w.length === 9))) return w;
  const f32 = (k: KerasWeight): Tensor => (k.tensor.dtype === 'float32' ? k.tensor : new Tensor('float32', k.tensor.shape, Float32Array.from(k.tensor.toNumbers())));
  const pick = (idx: number[]): Tensor => concatLast(idx.map((i) => f32(w[i]!)));
  const base = w[0]!.name.replace(/_W(_[a-z])?(:0)?$/, '');
  const names = (s: string): string => `${base}/${s}:0`;
  // Keras 1 order: LSTM W_i U_i b_i W_c U_c b_c W_f U_f b_f W_o U_o b_o; GRU z, r, h.
  if (kind === 'LSTM' && w.length === 12) {
    return [
      { name: names('kernel'), tensor: pick([0, 6, 3, 9]) },
      { name: names('recurrent_kernel'), tensor: pick([1, 7, 4, 10]) },
      { name: names('bias'), tensor: pick([2, 8, 5, 11]) },
    ];
  }
  if (kind === 'GRU' && w.length === 9) {
    return [
      { name: names('kernel'), tensor: pick([0, 3, 6]) },
      { name: names('recurrent_kernel'), tensor: pick([1, 4, 7]) },
      { name: names('bias'), tensor: pick([2, 5, 8]) },
    ];
  }
  return w;
}

interface DirWeights {
  W: Tensor;
  R: Tensor;
  B?: Tensor;
  names: string[];
}

function dirWeights(ctx: LowerCtx, layer: NormLayer, cfg: Record<string, unknown>, kind: Kind, features: number, slice?: [number, number]): DirWeights {
  const name = layer.name;
  const h = posInt(cfg, 'units', undefined, name);
  const g = GATES[kind];
  const useBias = cfg.use_bias !== false;
  const resetAfter = kind === 'GRU' && cfg.reset_after === true;
  const specs = [
    { role: 'kernel', shape: [features, g * h] },
    { role: 'recurrent_kernel', shape: [h, g * h] },
    ...(useBias ? [{ role: 'bias', shape: resetAfter ? [2, g * h] : [g * h] }] : []),
  ];
  const all = takeWeights(ctx, layer, slice ? [...specs, ...specs] : specs, name, (w) => {
    if (!slice) return keras1Recurrent(kind, w);
    return w;
  });
  const from = slice ? slice[0] : 0;
  const tensors = all.tensors.slice(from, from + specs.length);
  const names = all.names.slice(from, from + specs.length);
  let W = permute(tensors[0]!, [1, 0]);
  let R = permute(tensors[1]!, [1, 0]);
  let B: Tensor | undefined;
  if (useBias) {
    const bias = tensors[2]!;
    const full = new Float32Array(2 * g * h);
    if (resetAfter) full.set(bias.data as Float32Array);
    else full.set((bias.data as Float32Array).subarray(0, g * h));
    B = new Tensor('float32', [2 * g * h], full);
  }
  if (kind === 'LSTM') {
    W = reorderGates(W, 0, h, LSTM_ORDER);
    R = reorderGates(R, 0, h, LSTM_ORDER);
    if (B) B = reorderGates(B.reshape([2, 4 * h]), 1, h, LSTM_ORDER).reshape([8 * h]);
  }
  return { W, R, B, names };
}

function stack(ts: Tensor[]): Tensor {
  const n = ts[0]!.size;
  const out = new Float32Array(n * ts.length);
  ts.forEach((t, i) => out.set(t.data as Float32Array, i * n));
  return new Tensor('float32', [ts.length, ...ts[0]!.shape], out);
}

/** Lower SimpleRNN/LSTM/GRU, optionally wrapped in Bidirectional (`wrapper` is its config). */
export function lowerRecurrent(ctx: LowerCtx, layer: NormLayer, inputs: KValue[], kind: Kind, wrapper?: Record<string, unknown>): KValue[] {
  const { b } = ctx;
  const name = layer.name;
  const cfg = wrapper ? ((wrapper.layer as { config: Record<string, unknown> }).config ?? {}) : layer.config;
  const x0 = b.toKeras(inputs[0]!, name);
  if (x0.shape.length !== 3) throw new RosettaError('E_SHAPE_MISMATCH', `recurrent layers need [batch, time, features] input, got rank ${x0.shape.length}`, { where: { layer: name } });
  const features = x0.shape[2];
  if (typeof features !== 'number') throw new RosettaError('E_SHAPE_MISMATCH', 'the feature dimension of the input is unknown', { where: { layer: name } });
  if (cfg.stateful === true) b.rewrite('stateful-dropped', name, 'stateful RNN lowered as stateless (state starts at zero on every run)');
  if (cfg.time_major === true) throw new RosettaError('E_UNSUPPORTED_LAYER', 'time_major recurrent layers are not supported', { where: { layer: name } });
  const h = posInt(cfg, 'units', undefined, name);
  const bidir = wrapper !== undefined;
  let dirs: DirWeights[];
  let direction: string;
  if (bidir) {
    dirs = [dirWeights(ctx, layer, cfg, kind, features, [0, 0]), dirWeights(ctx, layer, cfg, kind, features, [cfg.use_bias !== false ? 3 : 2, 0])];
    direction = 'bidirectional';
  } else {
    dirs = [dirWeights(ctx, layer, cfg, kind, features)];
    direction = cfg.go_backwards === true ? 'reverse' : 'forward';
  }
  const trainable = (wrapper ?? cfg).trainable !== false;
  const allNames = dirs.flatMap((d) => d.names);
  const W = b.param(name, 'W', stack(dirs.map((d) => d.W)), allNames.filter((n) => /kernel/.test(n) && !/recurrent/.test(n)).join(',') || `${name}/kernel:0`, trainable);
  const R = b.param(name, 'R', stack(dirs.map((d) => d.R)), allNames.filter((n) => /recurrent/.test(n)).join(',') || `${name}/recurrent_kernel:0`, trainable);
  const B = dirs[0]!.B ? b.param(name, 'B', stack(dirs.map((d) => d.B!)), allNames.filter((n) => /bias/.test(n)).join(',') || `${name}/bias:0`, trainable) : '';
  b.rewrite('weight-layout', name, `${kind} kernels transposed to ONNX [dirs, gates·H, in]${kind === 'LSTM' ? ', gates (i,f,c,o) → (i,o,f,c)' : ''}${kind === 'GRU' ? `, reset_after=${cfg.reset_after === true} → linear_before_reset=${cfg.reset_after === true ? 1 : 0}` : ''}`);
  const act = rnnActivation(cfg.activation ?? 'tanh', name, ctx.kerasVersion);
  // Default recurrent activation: hard_sigmoid up to Keras 2.3 and in tfjs-layers, sigmoid after.
  const recDefault = kind === 'SimpleRNN' ? 'tanh' : /^(1\.|2\.[0-3]\.|tfjs)/.test(ctx.kerasVersion ?? '') ? 'hard_sigmoid' : 'sigmoid';
  const rec = rnnActivation(cfg.recurrent_activation ?? recDefault, name, ctx.kerasVersion);
  const perDir = kind === 'LSTM' ? [rec, act, act] : kind === 'GRU' ? [rec, act] : [act];
  const acts = bidir ? [...perDir, ...perDir] : perDir;
  const attrs: Record<string, ReturnType<typeof attrInt>> = { hidden_size: attrInt(h), direction: attrString(direction), activations: attrStrings(acts.map((a) => a.op)) };
  if (acts.some((a) => a.alpha !== undefined)) {
    // ONNX (and onnxruntime) consume alpha/beta in order, only for activations that take them.
    attrs.activation_alpha = attrFloats(acts.filter((a) => a.alpha !== undefined).map((a) => a.alpha!));
    const betas = acts.filter((a) => a.beta !== undefined).map((a) => a.beta!);
    if (betas.length) attrs.activation_beta = attrFloats(betas);
  }
  if (kind === 'GRU') attrs.linear_before_reset = attrInt(cfg.reset_after === true ? 1 : 0);
  const xs = b.transpose(x0.name, [1, 0, 2], name);
  const rnnInputs = [xs, W, R, B];
  if (!bidir && inputs.length > 1) {
    // initial_state: [h] or [h, c] as extra inputs of the call
    const axes0 = b.ints([0], name, 'axes');
    rnnInputs.push('', b.op1('Unsqueeze', [b.toKeras(inputs[1]!, name).name, axes0], {}, name));
    if (kind === 'LSTM' && inputs.length > 2) rnnInputs.push(b.op1('Unsqueeze', [b.toKeras(inputs[2]!, name).name, axes0], {}, name));
  }
  if (x0.mask) {
    if (bidir) throw new RosettaError('E_UNSUPPORTED_LAYER', 'a masked input to Bidirectional is not supported yet', { where: { layer: name } });
    return maskedRecurrent(ctx, name, kind, x0, rnnInputs, attrs, h, cfg);
  }
  while (rnnInputs[rnnInputs.length - 1] === '') rnnInputs.pop();
  const nOut = kind === 'LSTM' ? 3 : 2;
  const [Y, Yh, Yc] = b.op(ONNX_OP[kind], rnnInputs, attrs, name, nOut);
  const n = x0.shape[0] ?? null;
  const t = x0.shape[1] ?? null;
  const seq = (cfg.return_sequences ?? (wrapper ? false : false)) === true;
  const outs: KValue[] = [];
  const mergeMode = bidir ? (wrapper!.merge_mode === undefined ? 'concat' : wrapper!.merge_mode) : undefined;
  const merge = (v: string, axis: number, shapeLead: (number | null)[]): KValue[] => {
    // v has a direction axis `axis` of size 2 followed by H
    if (mergeMode === 'concat') {
      // 0 copies the (possibly unknown) leading dims; the direction and H axes fuse.
      const y = b.op1('Reshape', [v, b.ints([...shapeLead.map(() => 0), -1], name)], {}, name);
      return [{ name: y, shape: [...shapeLead, 2 * h], layout: 'keras', dtype: x0.dtype }];
    }
    const ax = b.ints([axis], name, 'axes');
    if (mergeMode === 'sum') return [{ name: b.op1('ReduceSum', [v, ax], { keepdims: attrInt(0) }, name), shape: [...shapeLead, h], layout: 'keras', dtype: x0.dtype }];
    if (mergeMode === 'ave') return [{ name: b.op1('ReduceMean', [v, ax], { keepdims: attrInt(0) }, name), shape: [...shapeLead, h], layout: 'keras', dtype: x0.dtype }];
    if (mergeMode === 'mul') return [{ name: b.op1('ReduceProd', [v, ax], { keepdims: attrInt(0) }, name), shape: [...shapeLead, h], layout: 'keras', dtype: x0.dtype }];
    if (mergeMode === null) {
      const [f, bw] = b.op('Split', [v, b.ints([1, 1], name, 'split')], { axis: attrInt(axis) }, name, 2);
      return [f!, bw!].map((s) => ({ name: b.op1('Squeeze', [s, ax], {}, name), shape: [...shapeLead, h], layout: 'keras' as const, dtype: x0.dtype }));
    }
    throw new RosettaError('E_UNSUPPORTED_LAYER', `Bidirectional merge_mode '${String(mergeMode)}' is not supported`, { where: { layer: name } });
  };
  if (seq) {
    if (bidir) {
      outs.push(...merge(b.transpose(Y!, [2, 0, 1, 3], name), 2, [n, t]));
    } else {
      let y = b.transpose(b.op1('Squeeze', [Y!, b.ints([1], name, 'axes')], {}, name), [1, 0, 2], name);
      if (direction === 'reverse') {
        y = b.op1('Slice', [y, b.ints([-1], name, 'starts'), b.ints([-Number.MAX_SAFE_INTEGER], name, 'ends'), b.ints([1], name, 'axes'), b.ints([-1], name, 'steps')], {}, name);
      }
      outs.push({ name: y, shape: [n, t, h], layout: 'keras', dtype: x0.dtype });
    }
  } else if (bidir) {
    outs.push(...merge(b.transpose(Yh!, [1, 0, 2], name), 1, [n]));
  } else {
    outs.push({ name: b.op1('Squeeze', [Yh!, b.ints([0], name, 'axes')], {}, name), shape: [n, h], layout: 'keras', dtype: x0.dtype });
  }
  if (cfg.return_state === true) {
    const states = kind === 'LSTM' ? [Yh!, Yc!] : [Yh!];
    for (const s of states) {
      if (bidir) {
        const [f, bw] = b.op('Split', [s, b.ints([1, 1], name, 'split')], { axis: attrInt(0) }, name, 2);
        for (const d of [f!, bw!]) outs.push({ name: b.op1('Squeeze', [d, b.ints([0], name, 'axes')], {}, name), shape: [n, h], layout: 'keras', dtype: x0.dtype });
      } else outs.push({ name: b.op1('Squeeze', [s, b.ints([0], name, 'axes')], {}, name), shape: [n, h], layout: 'keras', dtype: x0.dtype });
    }
  }
  return outs;
}

/** Longest sequence unrolled for masked recurrent layers. */
const MAX_MASKED_STEPS = 4096;

/**
 * Keras masking semantics (keras.backend.rnn with a mask): at a masked step the states and the
 * output keep their previous values. Expressed exactly by unrolling the static time axis into
 * one-step ONNX RNN/LSTM/GRU nodes with Where on the step's mask; the step order follows
 * go_backwards, and sequences come out in processing order as Keras returns them.
 */
function maskedRecurrent(ctx: LowerCtx, name: string, kind: Kind, x0: KValue, rnnInputs: string[], attrs: Record<string, ReturnType<typeof attrInt>>, h: number, cfg: Record<string, unknown>): KValue[] {
  const { b } = ctx;
  const t = x0.shape[1];
  if (typeof t !== 'number' || t > MAX_MASKED_STEPS) throw new RosettaError('E_UNSUPPORTED_LAYER', `masked recurrent layers need a static sequence length ≤ ${MAX_MASKED_STEPS}`, { where: { layer: name } });
  const [xs, W, R, B] = rnnInputs as [string, string, string, string];
  const stepAttrs = { ...attrs, direction: attrString('forward') };
  // Zero state [1, N, H] with the batch size taken from the data.
  const batch = b.op1('Shape', [xs], { start: attrInt(1), end: attrInt(2) }, name);
  const shape = b.op1('Concat', [b.ints([1], name), batch, b.ints([h], name)], { axis: attrInt(0) }, name);
  const zeros = b.op1('ConstantOfShape', [shape], { value: { type: 'tensor', value: Tensor.from('float32', [1], [0]) } }, name);
  let hs = rnnInputs[5] || zeros;
  let cs = kind === 'LSTM' ? rnnInputs[6] || zeros : '';
  let prev = zeros;
  const outs: string[] = [];
  const order = Array.from({ length: t }, (_, i) => (cfg.go_backwards === true ? t - 1 - i : i));
  const axes0 = b.ints([0], name, 'axes');
  for (const step of order) {
    const xt = b.op1('Slice', [xs, b.ints([step], name, 'starts'), b.ints([step + 1], name, 'ends'), axes0], {}, name);
    const mt = b.op1('Unsqueeze', [b.op1('Slice', [x0.mask!, b.ints([step], name, 'starts'), b.ints([step + 1], name, 'ends'), b.ints([1], name, 'axes')], {}, name), axes0], {}, name);
    const ins = [xt, W, R, B, '', hs];
    if (kind === 'LSTM') ins.push(cs);
    const [, yh, yc] = b.op(ONNX_OP[kind], ins, stepAttrs, name, kind === 'LSTM' ? 3 : 2);
    hs = b.op1('Where', [mt, yh!, hs], {}, name);
    if (kind === 'LSTM') cs = b.op1('Where', [mt, yc!, cs], {}, name);
    prev = b.op1('Where', [mt, yh!, prev], {}, name);
    outs.push(prev);
  }
  b.rewrite('masked-rnn-unrolled', name, `masked ${kind} unrolled over ${t} steps (keeps state and output at masked steps, as Keras)`);
  const n = x0.shape[0] ?? null;
  const result: KValue[] = [];
  if (cfg.return_sequences === true) {
    const y = b.transpose(b.op1('Concat', outs, { axis: attrInt(0) }, name), [1, 0, 2], name);
    result.push({ name: y, shape: [n, t, h], layout: 'keras', dtype: x0.dtype, mask: x0.mask });
  } else result.push({ name: b.op1('Squeeze', [prev, axes0], {}, name), shape: [n, h], layout: 'keras', dtype: x0.dtype });
  if (cfg.return_state === true) for (const st of kind === 'LSTM' ? [hs, cs] : [hs]) result.push({ name: b.op1('Squeeze', [st, axes0], {}, name), shape: [n, h], layout: 'keras', dtype: x0.dtype });
  return result;
}

