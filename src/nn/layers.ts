/**
 * Basic `src/nn` modules: Linear, Embedding, Flatten, Identity, Dropout and the activations
 * (ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax). Each builds the ONNX ops PyTorch's
 * own ONNX exporter emits for it, so exported graphs look familiar.
 * Spec of the mirrored modules: https://pytorch.org/docs/1.13/nn.html
 */
import { Tensor } from '../ir/tensor.js';
import { Module } from './module.js';
import { Parameter, defaultWeight, normal, uniform } from './parameter.js';
import type { Var } from './trace.js';

const int = (value: number) => ({ type: 'int' as const, value });
const float = (value: number) => ({ type: 'float' as const, value });

/** y = x Wᵀ + b (nn.Linear). weight [out, in], bias [out]. */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = defaultWeight([outFeatures, inFeatures], inFeatures);
    this.bias = opts.bias === false ? null : new Parameter(uniform([outFeatures], 1 / Math.sqrt(inFeatures)));
  }

  forward(x: Var): Var {
    const t = x.trace;
    const w = t.param(this.weight, 'weight', true);
    const b = this.bias ? t.param(this.bias, 'bias', true) : undefined;
    if (x.shape.length === 2) return t.op('Gemm', [x, w, b], { transB: int(1) });
    const y = t.op('MatMul', [x, t.op('Transpose', [w], { perm: { type: 'ints', value: [1, 0] } })]);
    return b ? t.op('Add', [y, b]) : y;
  }
}

/** A lookup table (nn.Embedding): Gather on axis 0. */
export class Embedding extends Module {
  weight: Parameter;

  readonly paddingIdx?: number;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { paddingIdx?: number } = {},
  ) {
    super();
    this.weight = new Parameter(normal([numEmbeddings, embeddingDim]));
    if (opts.paddingIdx !== undefined) {
      this.paddingIdx = opts.paddingIdx < 0 ? opts.paddingIdx + numEmbeddings : opts.paddingIdx;
      const d = this.weight.data.data as Float32Array;
      d.fill(0, this.paddingIdx * embeddingDim, (this.paddingIdx + 1) * embeddingDim);
    }
  }

  forward(idx: Var): Var {
    const t = idx.trace;
    let w = t.param(this.weight, 'weight', true);
    if (this.paddingIdx !== undefined && this.training) {
      // PyTorch never updates the padding row: W·mask + (W·(1−mask) as a constant) has W's value
      // and no gradient into that row.
      const D = this.embeddingDim;
      const mask = new Float32Array(this.numEmbeddings * D).fill(1).fill(0, this.paddingIdx * D, (this.paddingIdx + 1) * D);
      const row = new Float32Array(this.numEmbeddings * D);
      row.set((this.weight.data.data as Float32Array).subarray(this.paddingIdx * D, (this.paddingIdx + 1) * D), this.paddingIdx * D);
      const shape = [this.numEmbeddings, D];
      w = w.mul(t.constant(new Tensor('float32', shape, mask), 'pad_mask')).add(t.constant(new Tensor('float32', shape, row), 'pad_row'));
    }
    return t.op('Gather', [w, idx], { axis: int(0) });
  }
}

export class Identity extends Module {
  forward(x: Var): Var {
    return x;
  }
}

/** torch.nn.Flatten(start_dim=1, end_dim=-1). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Var): Var {
    const r = x.shape.length;
    const s = this.startDim < 0 ? this.startDim + r : this.startDim;
    const e = this.endDim < 0 ? this.endDim + r : this.endDim;
    if (s === 1 && e === r - 1) return x.trace.op('Flatten', [x], { axis: int(1) });
    return x.flatten(s, e);
  }
}

/** Dropout: identity in eval mode; in training, ONNX Dropout with a seeded mask. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }

  forward(x: Var): Var {
    if (!this.training || this.p === 0) return x;
    const t = x.trace;
    const ratio = t.constant(Tensor.from(x.dtype, [], [this.p]), 'ratio');
    const on = t.constant(Tensor.from('bool', [], [1]), 'training');
    return t.opN('Dropout', [x, ratio, on], {}, 2)[0]!;
  }
}

export class ReLU extends Module {
  forward(x: Var): Var {
    return x.trace.op('Relu', [x]);
  }
}

/** min(max(x, 0), 6): Clip with min/max inputs, as torch exports it. */
export class ReLU6 extends Module {
  forward(x: Var): Var {
    const t = x.trace;
    return t.op('Clip', [x, t.scalar(0, x.dtype), t.scalar(6, x.dtype)]);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }

  forward(x: Var): Var {
    return x.trace.op('LeakyRelu', [x], { alpha: float(this.negativeSlope) });
  }
}

/**
 * GELU: x·Φ(x) written as x·0.5·(1 + erf(x/√2)) (or the tanh approximation), the form
 * torch.onnx emits for opsets below 20 (ONNX Gelu arrived in opset 20).
 */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }

  forward(x: Var): Var {
    const t = x.trace;
    if (this.approximate === 'tanh') {
      // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
      const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
      return x.mul(inner.tanh().add(1)).mul(0.5);
    }
    const erf = t.op('Erf', [x.div(Math.SQRT2)]);
    return x.mul(erf.add(1)).mul(0.5);
  }
}

/** x·sigmoid(x). */
export class SiLU extends Module {
  forward(x: Var): Var {
    return x.mul(x.sigmoid());
  }
}

export class Sigmoid extends Module {
  forward(x: Var): Var {
    return x.sigmoid();
  }
}

export class Tanh extends Module {
  forward(x: Var): Var {
    return x.tanh();
  }
}

export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }

  forward(x: Var): Var {
    return x.trace.op('Softmax', [x], { axis: int(this.dim) });
  }
}

export class LogSoftmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }

  forward(x: Var): Var {
    return x.trace.op('LogSoftmax', [x], { axis: int(this.dim) });
  }
}
