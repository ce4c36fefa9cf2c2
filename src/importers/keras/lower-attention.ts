/**
 * Keras `Attention` (Luong dot-product) and `MultiHeadAttention` as IR MatMul/Softmax graphs.
 * Inputs are [batch, time, features]; `value=`/`key=` call kwargs arrive as extra inputs
 * (normalize.ts). MultiHeadAttention's einsum kernels [E, H, D] / [H, D, E] are stored in MatMul
 * form [E, H·D] / [H·D, E] (a reshape: row-major order is the einsum's). Causal masking (`causal`
 * config of tf.keras Attention, `use_causal_mask` call kwarg) subtracts 1e9 above the diagonal as
 * Keras does. Not supported (typed error): `score_mode='concat'`, custom `attention_axes`,
 * attention masks from Masking.
 * Semantics: keras/src/layers/attention/{attention,multi_head_attention}.py.
 */
import { attrInt } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import { Tensor } from '../../ir/tensor.js';
import type { KValue } from './builder.js';
import { type LowerCtx, posInt, takeWeights } from './context.js';
import type { NormLayer } from './normalize.js';

/** The input bound to a call kwarg (`{__input_index}`), or undefined. */
function kwInput(kwargs: Record<string, unknown>, key: string, inputs: KValue[]): KValue | undefined {
  const v = kwargs[key] as { __input_index?: number } | undefined;
  return v && typeof v.__input_index === 'number' ? inputs[v.__input_index] : undefined;
}

/** [1e9 above the diagonal, 0 elsewhere] for static lengths, subtracted from the scores. */
function causalMask(ctx: LowerCtx, tq: number | null, tk: number | null, layer: string): string {
  if (tq === null || tk === null) throw new RosettaError('E_UNSUPPORTED_LAYER', 'causal attention needs static sequence lengths', { where: { layer } });
  const m = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) for (let j = 0; j < tk; j++) m[i * tk + j] = j > i ? 1e9 : 0;
  return ctx.b.constant(new Tensor('float32', [tq, tk], m), layer, 'causal_mask');
}

function rank3(ctx: LowerCtx, v: KValue, layer: string): KValue {
  const k = ctx.b.toKeras(v, layer);
  if (k.shape.length !== 3) throw new RosettaError('E_UNSUPPORTED_LAYER', `attention inputs of rank ${k.shape.length} are not supported (only [batch, time, features])`, { where: { layer } });
  return k;
}

export function lowerAttention(ctx: LowerCtx, layer: NormLayer, inputs: KValue[], kwargs: Record<string, unknown>): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  if (cfg.score_mode !== undefined && cfg.score_mode !== 'dot') throw new RosettaError('E_UNSUPPORTED_LAYER', `Attention score_mode '${String(cfg.score_mode)}' is not supported`, { where: { layer: name } });
  const q = rank3(ctx, inputs[0]!, name);
  const v = rank3(ctx, inputs[1] ?? inputs[0]!, name);
  const k = rank3(ctx, inputs[2] ?? v, name);
  let scores = b.op1('MatMul', [q.name, b.transpose(k.name, [0, 2, 1], name)], {}, name);
  if (cfg.use_scale === true) {
    const w = takeWeights(ctx, layer, [{ role: 'scale', shape: [] }], name);
    scores = b.op1('Mul', [scores, b.param(name, 'scale', w.tensors[0]!, w.names[0]!, cfg.trainable !== false)], {}, name);
  }
  if (cfg.causal === true || kwargs.use_causal_mask === true) scores = b.op1('Sub', [scores, causalMask(ctx, q.shape[1]!, k.shape[1]!, name)], {}, name);
  const weights = b.op1('Softmax', [scores], { axis: attrInt(2) }, name);
  return { name: b.op1('MatMul', [weights, v.name], {}, name), shape: [q.shape[0]!, q.shape[1]!, v.shape[2]!], layout: 'keras', dtype: q.dtype };
}

export function lowerMultiHeadAttention(ctx: LowerCtx, layer: NormLayer, inputs: KValue[], kwargs: Record<string, unknown>): KValue {
  const { b } = ctx;
  const cfg = layer.config;
  const name = layer.name;
  if (cfg.attention_axes !== undefined && cfg.attention_axes !== null) throw new RosettaError('E_UNSUPPORTED_LAYER', 'MultiHeadAttention with custom attention_axes is not supported', { where: { layer: name } });
  if (cfg.output_shape !== undefined && cfg.output_shape !== null) throw new RosettaError('E_UNSUPPORTED_LAYER', 'MultiHeadAttention with output_shape is not supported', { where: { layer: name } });
  const h = posInt(cfg, 'num_heads', undefined, name, 4096);
  const dk = posInt(cfg, 'key_dim', undefined, name, 1 << 16);
  const dv = cfg.value_dim === null || cfg.value_dim === undefined ? dk : posInt(cfg, 'value_dim', undefined, name, 1 << 16);
  const useBias = cfg.use_bias !== false;
  const query = rank3(ctx, inputs[0]!, name);
  const value = rank3(ctx, kwInput(kwargs, 'value', inputs) ?? inputs[1] ?? inputs[0]!, name);
  const key = rank3(ctx, kwInput(kwargs, 'key', inputs) ?? (inputs.length > 2 && !kwargs.value ? inputs[2]! : value), name);
  const dims = [query.shape[2], key.shape[2], value.shape[2]];
  if (!dims.every((d): d is number => typeof d === 'number')) throw new RosettaError('E_SHAPE_MISMATCH', 'attention feature sizes must be known', { where: { layer: name } });
  const [eq, ek, ev] = dims as [number, number, number];
  const specs = [
    { role: 'query/kernel', shape: [eq, h, dk] },
    ...(useBias ? [{ role: 'query/bias', shape: [h, dk] }] : []),
    { role: 'key/kernel', shape: [ek, h, dk] },
    ...(useBias ? [{ role: 'key/bias', shape: [h, dk] }] : []),
    { role: 'value/kernel', shape: [ev, h, dv] },
    ...(useBias ? [{ role: 'value/bias', shape: [h, dv] }] : []),
    { role: 'attention_output/kernel', shape: [h, dv, eq] },
    ...(useBias ? [{ role: 'attention_output/bias', shape: [eq] }] : []),
  ];
  const w = takeWeights(ctx, layer, specs, name);
  const trainable = cfg.trainable !== false;
  let i = 0;
  const next = (role: string, shape: number[]): string => {
    const t = w.tensors[i]!;
    return b.param(name, role, t.reshape(shape), w.names[i++]!, trainable);
  };
  const project = (x: KValue, e: number, d: number, role: string): string => {
    const W = next(`${role}/kernel`, [e, h * d]);
    let y = b.op1('MatMul', [x.name, W], {}, name);
    if (useBias) y = b.op1('Add', [y, next(`${role}/bias`, [h * d])], {}, name);
    // [B, T, H·D] → [B, H, T, D]
    return b.transpose(b.op1('Reshape', [y, b.ints([0, 0, h, d], name)], {}, name), [0, 2, 1, 3], name);
  };
  let q = project(query, eq, dk, 'query');
  const k = project(key, ek, dk, 'key');
  const v = project(value, ev, dv, 'value');
  q = b.op1('Mul', [q, b.constant(Tensor.from('float32', [], [1 / Math.sqrt(dk)]), name, 'scale')], {}, name);
  let scores = b.op1('MatMul', [q, b.transpose(k, [0, 1, 3, 2], name)], {}, name);
  if (kwargs.use_causal_mask === true) scores = b.op1('Sub', [scores, causalMask(ctx, query.shape[1]!, key.shape[1]!, name)], {}, name);
  const probs = b.op1('Softmax', [scores], { axis: attrInt(3) }, name);
  const ctxv = b.op1('Reshape', [b.transpose(b.op1('MatMul', [probs, v], {}, name), [0, 2, 1, 3], name), b.ints([0, 0, h * dv], name)], {}, name);
  let out = b.op1('MatMul', [ctxv, next('attention_output/kernel', [h * dv, eq])], {}, name);
  if (useBias) out = b.op1('Add', [out, next('attention_output/bias', [eq])], {}, name);
  b.rewrite('weight-layout', name, `einsum kernels [E, H, D] / [H, D, E] stored as MatMul weights [E, H·D] / [H·D, E]`);
  return { name: out, shape: [query.shape[0]!, query.shape[1]!, eq], layout: 'keras', dtype: query.dtype };
}
