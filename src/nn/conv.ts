/**
 * Convolution and pooling modules: Conv1d, Conv2d (stride, padding incl. 'same'/'valid',
 * dilation, groups), ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d — each one ONNX
 * node with explicit pads (the IR keeps pads explicit; PyTorch's 'same' puts the odd extra
 * padding at the end, which is what we write).
 * Spec: https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html, https://onnx.ai/onnx/operators/onnx__Conv.html
 */
import { RosettaError } from '../ir/errors.js';
import { Module } from './module.js';
import { Parameter, defaultWeight, uniform } from './parameter.js';
import type { Var } from './trace.js';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });

type Size = number | number[];

function tuple(v: Size, n: number): number[] {
  return Array.isArray(v) ? v.slice() : new Array<number>(n).fill(v);
}

export interface ConvOptions {
  stride?: Size;
  /** A size, per-dimension sizes, or 'same' / 'valid' (PyTorch ≥ 1.9). */
  padding?: Size | 'same' | 'valid';
  dilation?: Size;
  groups?: number;
  bias?: boolean;
}

/** Shared N-d convolution; Conv1d/Conv2d fix the spatial rank. */
export class ConvNd extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly dilation: number[];
  readonly groups: number;
  readonly padding: number[] | 'same' | 'valid';

  constructor(
    readonly rank: number,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size,
    opts: ConvOptions = {},
  ) {
    super();
    this.kernelSize = tuple(kernelSize, rank);
    this.stride = tuple(opts.stride ?? 1, rank);
    this.dilation = tuple(opts.dilation ?? 1, rank);
    this.groups = opts.groups ?? 1;
    const p = opts.padding ?? 0;
    this.padding = p === 'same' || p === 'valid' ? p : tuple(p, rank);
    if (inChannels % this.groups || outChannels % this.groups) throw new RosettaError('E_INVALID_ATTR', `channels ${inChannels}→${outChannels} are not divisible by groups ${this.groups}`);
    if (this.padding === 'same' && this.stride.some((s) => s !== 1)) throw new RosettaError('E_INVALID_ATTR', "padding='same' needs stride 1 (as in PyTorch)");
    const fanIn = (inChannels / this.groups) * this.kernelSize.reduce((a, b) => a * b, 1);
    this.weight = defaultWeight([outChannels, inChannels / this.groups, ...this.kernelSize], fanIn);
    this.bias = opts.bias === false ? null : new Parameter(uniform([outChannels], 1 / Math.sqrt(fanIn)));
  }

  /** Explicit ONNX pads [begin..., end...]. */
  pads(): number[] {
    if (this.padding === 'valid') return new Array<number>(2 * this.rank).fill(0);
    if (this.padding === 'same') {
      const total = this.kernelSize.map((k, i) => this.dilation[i]! * (k - 1));
      const begin = total.map((t) => Math.floor(t / 2));
      return [...begin, ...total.map((t, i) => t - begin[i]!)];
    }
    return [...this.padding, ...this.padding];
  }

  forward(x: Var): Var {
    const t = x.trace;
    const w = t.param(this.weight, 'weight', true);
    const b = this.bias ? t.param(this.bias, 'bias', true) : undefined;
    return t.op('Conv', [x, w, b], {
      kernel_shape: ints(this.kernelSize),
      strides: ints(this.stride),
      pads: ints(this.pads()),
      dilations: ints(this.dilation),
      group: int(this.groups),
    });
  }
}

export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size, opts: ConvOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, opts);
  }
}

export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size, opts: ConvOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, opts);
  }
}

/** nn.ConvTranspose2d: weight [in, out/groups, kH, kW]. */
export class ConvTranspose2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly outputPadding: number[];
  readonly dilation: number[];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size,
    opts: { stride?: Size; padding?: Size; outputPadding?: Size; dilation?: Size; groups?: number; bias?: boolean } = {},
  ) {
    super();
    this.kernelSize = tuple(kernelSize, 2);
    this.stride = tuple(opts.stride ?? 1, 2);
    this.padding = tuple(opts.padding ?? 0, 2);
    this.outputPadding = tuple(opts.outputPadding ?? 0, 2);
    this.dilation = tuple(opts.dilation ?? 1, 2);
    this.groups = opts.groups ?? 1;
    // PyTorch computes fan_in from weight dim 1 (out/groups) for transposed convs.
    const fanIn = (outChannels / this.groups) * this.kernelSize[0]! * this.kernelSize[1]!;
    this.weight = defaultWeight([inChannels, outChannels / this.groups, ...this.kernelSize], fanIn);
    this.bias = opts.bias === false ? null : new Parameter(uniform([outChannels], 1 / Math.sqrt(fanIn)));
  }

  forward(x: Var): Var {
    const t = x.trace;
    const w = t.param(this.weight, 'weight', true);
    const b = this.bias ? t.param(this.bias, 'bias', true) : undefined;
    return t.op('ConvTranspose', [x, w, b], {
      kernel_shape: ints(this.kernelSize),
      strides: ints(this.stride),
      pads: ints([...this.padding, ...this.padding]),
      output_padding: ints(this.outputPadding),
      dilations: ints(this.dilation),
      group: int(this.groups),
    });
  }
}

export class MaxPool2d extends Module {
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly ceilMode: boolean;

  constructor(
    kernelSize: Size,
    opts: { stride?: Size; padding?: Size; dilation?: Size; ceilMode?: boolean } = {},
  ) {
    super();
    this.kernelSize = tuple(kernelSize, 2);
    this.stride = tuple(opts.stride ?? kernelSize, 2);
    this.padding = tuple(opts.padding ?? 0, 2);
    this.dilation = tuple(opts.dilation ?? 1, 2);
    this.ceilMode = opts.ceilMode ?? false;
  }

  forward(x: Var): Var {
    return x.trace.op('MaxPool', [x], {
      kernel_shape: ints(this.kernelSize),
      strides: ints(this.stride),
      pads: ints([...this.padding, ...this.padding]),
      dilations: ints(this.dilation),
      ceil_mode: int(this.ceilMode ? 1 : 0),
    });
  }
}

export class AvgPool2d extends Module {
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;

  constructor(kernelSize: Size, opts: { stride?: Size; padding?: Size; ceilMode?: boolean; countIncludePad?: boolean } = {}) {
    super();
    this.kernelSize = tuple(kernelSize, 2);
    this.stride = tuple(opts.stride ?? kernelSize, 2);
    this.padding = tuple(opts.padding ?? 0, 2);
    this.ceilMode = opts.ceilMode ?? false;
    // PyTorch's default counts padding in the divisor (ONNX's default does not).
    this.countIncludePad = opts.countIncludePad ?? true;
  }

  forward(x: Var): Var {
    return x.trace.op('AveragePool', [x], {
      kernel_shape: ints(this.kernelSize),
      strides: ints(this.stride),
      pads: ints([...this.padding, ...this.padding]),
      ceil_mode: int(this.ceilMode ? 1 : 0),
      count_include_pad: int(this.countIncludePad ? 1 : 0),
    });
  }
}

/**
 * AdaptiveAvgPool2d: GlobalAveragePool for output 1×1, otherwise an AveragePool whose kernel and
 * stride are input/output (exact when the input size is a multiple of the output size, which is
 * the case torch.onnx also supports).
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: number[];

  constructor(outputSize: Size) {
    super();
    this.outputSize = tuple(outputSize, 2);
  }

  forward(x: Var): Var {
    const t = x.trace;
    if (this.outputSize.every((s) => s === 1)) return t.op('GlobalAveragePool', [x]);
    const sp = x.shape.slice(2);
    if (sp.some((d, i) => d % this.outputSize[i]! !== 0)) {
      throw new RosettaError('E_UNSUPPORTED', `AdaptiveAvgPool2d to ${this.outputSize.join('×')} from ${sp.join('×')}: input size must be a multiple of the output size`, {
        hint: 'resize the input or choose an output size that divides it',
      });
    }
    const k = sp.map((d, i) => d / this.outputSize[i]!);
    return t.op('AveragePool', [x], { kernel_shape: ints(k), strides: ints(k), pads: ints([0, 0, 0, 0]) });
  }
}
