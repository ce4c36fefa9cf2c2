/**
 * LSTM and GRU (batch_first, num_layers, bidirectional) as one ONNX LSTM/GRU node per layer.
 *
 * Parameters keep PyTorch's names and layouts (`weight_ih_l0`, `bias_hh_l1_reverse`, gates
 * i,f,g,o for LSTM and r,z,n for GRU). The graph converts them to ONNX's layout with Slice/Concat
 * nodes (LSTM i,o,f,c; GRU z,r,h; directions stacked; B = [Wb, Rb]), so gradients flow back to
 * the PyTorch-shaped parameters and a constant-folding pass can bake the result for export.
 * GRU uses linear_before_reset=1, which is PyTorch's formulation.
 * Spec: https://pytorch.org/docs/1.13/generated/torch.nn.LSTM.html, https://onnx.ai/onnx/operators/onnx__LSTM.html
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { Module } from './module.js';
import { Parameter, uniform } from './parameter.js';
import { cat, type Var } from './trace.js';

const int = (value: number) => ({ type: 'int' as const, value });

export interface RnnOptions {
  numLayers?: number;
  bias?: boolean;
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last (training mode only), as in PyTorch. */
  dropout?: number;
  bidirectional?: boolean;
}

abstract class RnnBase extends Module {
  readonly numLayers: number;
  readonly hasBias: boolean;
  readonly batchFirst: boolean;
  readonly bidirectional: boolean;
  readonly dropout: number;
  protected abstract readonly gates: number;
  protected abstract readonly opType: 'LSTM' | 'GRU';
  /** PyTorch gate blocks in ONNX order (indices into the PyTorch layout). */
  protected abstract readonly order: number[];

  constructor(
    readonly inputSize: number,
    readonly hiddenSize: number,
    opts: RnnOptions,
    gates: number,
  ) {
    super();
    this.numLayers = opts.numLayers ?? 1;
    this.hasBias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.bidirectional = opts.bidirectional ?? false;
    this.dropout = opts.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) throw new RosettaError('E_INVALID_ATTR', `dropout must be in [0, 1), got ${this.dropout}`);
    const k = 1 / Math.sqrt(hiddenSize);
    const self = this as unknown as Record<string, Parameter>;
    // Registration order = PyTorch's _flat_weights_names order.
    for (let l = 0; l < this.numLayers; l++) {
      for (const sfx of this.bidirectional ? ['', '_reverse'] : ['']) {
        const inp = l === 0 ? inputSize : hiddenSize * (this.bidirectional ? 2 : 1);
        self[`weight_ih_l${l}${sfx}`] = new Parameter(uniform([gates * hiddenSize, inp], k));
        self[`weight_hh_l${l}${sfx}`] = new Parameter(uniform([gates * hiddenSize, hiddenSize], k));
        if (this.hasBias) {
          self[`bias_ih_l${l}${sfx}`] = new Parameter(uniform([gates * hiddenSize], k));
          self[`bias_hh_l${l}${sfx}`] = new Parameter(uniform([gates * hiddenSize], k));
        }
      }
    }
  }

  private p(name: string): Parameter {
    return (this as unknown as Record<string, Parameter>)[name]!;
  }

  /** A PyTorch-layout [G*H, ...] parameter reordered to ONNX gate order. */
  private reorder(v: Var): Var {
    const H = this.hiddenSize;
    const t = v.trace;
    const parts = this.order.map((g) => t.op('Slice', [v, t.ints([g * H]), t.ints([(g + 1) * H]), t.ints([0])]));
    return cat(parts, 0);
  }

  private unsqueeze0(v: Var): Var {
    return v.trace.op('Unsqueeze', [v, v.trace.ints([0])]);
  }

  /**
   * input [T, B, I] (or [B, T, I] with batchFirst), optional initial states [L*D, B, H].
   * Returns [output, h_n] for GRU and [output, [h_n, c_n]] for LSTM, like PyTorch.
   */
  protected runLayers(x: Var, h0?: Var, c0?: Var): [Var, Var, Var | undefined] {
    const t = x.trace;
    const D = this.bidirectional ? 2 : 1;
    const H = this.hiddenSize;
    let seq = this.batchFirst ? x.permute(1, 0, 2) : x;
    const hs: Var[] = [];
    const cs: Var[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const sfxs = this.bidirectional ? ['', '_reverse'] : [''];
      const W = cat(sfxs.map((s) => this.unsqueeze0(this.reorder(t.param(this.p(`weight_ih_l${l}${s}`), 'weight_ih', true)))), 0);
      const R = cat(sfxs.map((s) => this.unsqueeze0(this.reorder(t.param(this.p(`weight_hh_l${l}${s}`), 'weight_hh', true)))), 0);
      let B: Var | undefined;
      if (this.hasBias) {
        B = cat(
          sfxs.map((s) => this.unsqueeze0(cat([this.reorder(t.param(this.p(`bias_ih_l${l}${s}`), 'bias_ih', true)), this.reorder(t.param(this.p(`bias_hh_l${l}${s}`), 'bias_hh', true))], 0))),
          0,
        );
      }
      const layerState = (s: Var | undefined): Var | undefined => (s ? t.op('Slice', [s, t.ints([l * D]), t.ints([(l + 1) * D]), t.ints([0])]) : undefined);
      const attrs = {
        hidden_size: int(H),
        direction: { type: 'string' as const, value: this.bidirectional ? 'bidirectional' : 'forward' },
        ...(this.opType === 'GRU' ? { linear_before_reset: int(1) } : {}),
      };
      const inputs = this.opType === 'LSTM' ? [seq, W, R, B, undefined, layerState(h0), layerState(c0)] : [seq, W, R, B, undefined, layerState(h0)];
      const outs = t.opN(this.opType, inputs, attrs, this.opType === 'LSTM' ? 3 : 2);
      const y = outs[0]!; // [T, D, B, H]
      hs.push(outs[1]!);
      if (outs[2]) cs.push(outs[2]);
      seq = y.permute(0, 2, 1, 3).reshape(0, 0, D * H);
      if (this.dropout > 0 && this.training && l < this.numLayers - 1) {
        const ratio = t.constant(Tensor.from(seq.dtype, [], [this.dropout]), 'ratio');
        seq = t.opN('Dropout', [seq, ratio, t.constant(Tensor.from('bool', [], [1]), 'training')], {}, 2)[0]!;
      }
    }
    const out = this.batchFirst ? seq.permute(1, 0, 2) : seq;
    const hn = hs.length === 1 ? hs[0]! : cat(hs, 0);
    const cn = cs.length === 0 ? undefined : cs.length === 1 ? cs[0]! : cat(cs, 0);
    return [out, hn, cn];
  }
}

/** nn.LSTM. forward(x, h0?, c0?) → [output, [h_n, c_n]]. */
export class LSTM extends RnnBase {
  protected readonly gates = 4;
  protected readonly opType = 'LSTM' as const;
  // PyTorch i,f,g,o → ONNX i,o,f,c
  protected readonly order = [0, 3, 1, 2];

  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions = {}) {
    super(inputSize, hiddenSize, opts, 4);
  }

  forward(x: Var, h0?: Var, c0?: Var): [Var, [Var, Var]] {
    const [out, hn, cn] = this.runLayers(x, h0, c0);
    return [out, [hn, cn!]];
  }
}

/** nn.GRU. forward(x, h0?) → [output, h_n]. */
export class GRU extends RnnBase {
  protected readonly gates = 3;
  protected readonly opType = 'GRU' as const;
  // PyTorch r,z,n → ONNX z,r,h
  protected readonly order = [1, 0, 2];

  constructor(inputSize: number, hiddenSize: number, opts: RnnOptions = {}) {
    super(inputSize, hiddenSize, opts, 3);
  }

  forward(x: Var, h0?: Var): [Var, Var] {
    const [out, hn] = this.runLayers(x, h0);
    return [out, hn];
  }
}
