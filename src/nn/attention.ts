/**
 * nn.MultiheadAttention with PyTorch's packed `in_proj_weight` [3E, E] / `in_proj_bias` [3E] and an
 * `out_proj` Linear, so state dicts load unchanged. Built from MatMul/Softmax/Transpose/Reshape:
 *   q,k,v = x W{q,k,v}ᵀ + b;  heads = softmax(q kᵀ / √d) v;  out = out_proj(concat(heads))
 * Returns [output, weights averaged over heads] like `need_weights=True` (the default).
 * Masks as in PyTorch: `keyPaddingMask` [N, S] and `attnMask` [L, S] or [N·heads, L, S]; boolean
 * masks mark positions to ignore (−∞ before the softmax), float masks are added to the scores.
 * Spec: https://pytorch.org/docs/1.13/generated/torch.nn.MultiheadAttention.html
 */
import { RosettaError } from '../ir/errors.js';
import { Linear } from './layers.js';
import { Module } from './module.js';
import { Parameter, fill, uniform } from './parameter.js';
import type { Var } from './trace.js';

const int = (value: number) => ({ type: 'int' as const, value });

export class MultiheadAttention extends Module {
  in_proj_weight: Parameter;
  in_proj_bias: Parameter | null;
  out_proj: Linear;
  readonly headDim: number;
  readonly batchFirst: boolean;
  /** Average the returned attention weights over heads (PyTorch's average_attn_weights). */
  averageAttnWeights = true;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    opts: { bias?: boolean; batchFirst?: boolean } = {},
  ) {
    super();
    if (embedDim % numHeads) throw new RosettaError('E_INVALID_ATTR', `embed_dim ${embedDim} must be divisible by num_heads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.batchFirst = opts.batchFirst ?? false;
    // xavier_uniform on the packed weight, zero biases (PyTorch's _reset_parameters).
    this.in_proj_weight = new Parameter(uniform([3 * embedDim, embedDim], Math.sqrt(6 / (4 * embedDim))));
    this.in_proj_bias = opts.bias === false ? null : new Parameter(fill([3 * embedDim], 0));
    this.out_proj = new Linear(embedDim, embedDim, { bias: opts.bias !== false });
    if (this.out_proj.bias) this.out_proj.bias.data = fill([embedDim], 0);
  }

  /** Project with rows [k*E, (k+1)*E) of the packed weight and bias. */
  private project(x: Var, k: number): Var {
    const t = x.trace;
    const E = this.embedDim;
    const w = t.param(this.in_proj_weight, 'in_proj_weight', true);
    const rows = (v: Var): Var => t.op('Slice', [v, t.ints([k * E]), t.ints([(k + 1) * E]), t.ints([0])]);
    let y = x.matmul(rows(w).permute(1, 0));
    if (this.in_proj_bias) y = y.add(rows(t.param(this.in_proj_bias, 'in_proj_bias', true)));
    return y;
  }

  /** [N, L, E] → [N, heads, L, d]. */
  private heads(x: Var): Var {
    return x.reshape(0, 0, this.numHeads, this.headDim).permute(0, 2, 1, 3);
  }

  /** A boolean mask becomes 0 / −∞; a float mask is used as is. */
  private additive(mask: Var, shape: number[]): Var {
    const t = mask.trace;
    const m = mask.dtype === 'bool' ? t.op('Where', [mask, t.scalar(-Infinity), t.scalar(0)]) : mask;
    return m.reshape(...shape);
  }

  forward(query: Var, key?: Var, value?: Var, keyPaddingMask?: Var, attnMask?: Var): [Var, Var] {
    const k0 = key ?? query;
    const v0 = value ?? k0;
    const toBatch = (x: Var): Var => (this.batchFirst ? x : x.permute(1, 0, 2));
    const q = this.heads(this.project(toBatch(query), 0));
    const k = this.heads(this.project(toBatch(k0), 1));
    const v = this.heads(this.project(toBatch(v0), 2));
    const t = query.trace;
    let scores = q.matmul(k.permute(0, 1, 3, 2)).div(Math.sqrt(this.headDim));
    const [N, , L, S] = scores.shape as [number, number, number, number];
    if (attnMask) scores = scores.add(this.additive(attnMask, attnMask.shape.length === 3 ? [N, this.numHeads, L, S] : [1, 1, L, S]));
    if (keyPaddingMask) scores = scores.add(this.additive(keyPaddingMask, [N, 1, 1, S]));
    const attn = t.op('Softmax', [scores], { axis: int(-1) });
    const ctx = attn.matmul(v).permute(0, 2, 1, 3).reshape(0, 0, this.embedDim);
    let out = this.out_proj.callVar(ctx);
    if (!this.batchFirst) out = out.permute(1, 0, 2);
    const weights = this.averageAttnWeights ? attn.mean([1]) : attn;
    return [out, weights];
  }
}
