/**
 * torch.nn.functional counterparts for forward code that reads like PyTorch
 * (`F.relu(this.bn.callVar(this.conv.callVar(x)))`). Each is the corresponding module's forward,
 * so graphs are identical whichever style builds them.
 * Spec: https://pytorch.org/docs/1.13/nn.functional.html
 */
import type { Tensor } from '../ir/tensor.js';
import { AvgPool2d, MaxPool2d } from './conv.js';
import { Dropout, GELU, LeakyReLU, LogSoftmax, ReLU6, Softmax } from './layers.js';
import { BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, type CrossEntropyOptions, type Reduction } from './loss.js';
import { Var } from './trace.js';

const target = (like: Var, t: Var | Tensor): Var => (t instanceof Var ? t : like.trace.constant(t, 'target'));

export const relu = (x: Var): Var => x.relu();
export const relu6 = (x: Var): Var => new ReLU6().forward(x);
export const leakyRelu = (x: Var, negativeSlope = 0.01): Var => new LeakyReLU(negativeSlope).forward(x);
export const gelu = (x: Var, approximate: 'none' | 'tanh' = 'none'): Var => new GELU(approximate).forward(x);
export const silu = (x: Var): Var => x.mul(x.sigmoid());
export const sigmoid = (x: Var): Var => x.sigmoid();
export const tanh = (x: Var): Var => x.tanh();
export const softmax = (x: Var, dim: number): Var => new Softmax(dim).forward(x);
export const logSoftmax = (x: Var, dim: number): Var => new LogSoftmax(dim).forward(x);
export const flatten = (x: Var, startDim = 0, endDim = -1): Var => x.flatten(startDim, endDim);

export function dropout(x: Var, p = 0.5, training = true): Var {
  const d = new Dropout(p);
  d.training = training;
  return d.forward(x);
}

export const maxPool2d = (x: Var, kernelSize: number | number[], stride?: number | number[], padding: number | number[] = 0): Var => new MaxPool2d(kernelSize, { stride, padding }).forward(x);
export const avgPool2d = (x: Var, kernelSize: number | number[], stride?: number | number[], padding: number | number[] = 0): Var => new AvgPool2d(kernelSize, { stride, padding }).forward(x);

export const crossEntropy = (input: Var, t: Var | Tensor, opts: CrossEntropyOptions = {}): Var => new CrossEntropyLoss(opts).forward(input, target(input, t));
export const nllLoss = (input: Var, t: Var | Tensor, opts: { reduction?: Reduction; weight?: Tensor } = {}): Var => new NLLLoss(opts).forward(input, target(input, t));
export const mseLoss = (input: Var, t: Var | Tensor, reduction: Reduction = 'mean'): Var => new MSELoss(reduction).forward(input, target(input, t));
export const l1Loss = (input: Var, t: Var | Tensor, reduction: Reduction = 'mean'): Var => new L1Loss(reduction).forward(input, target(input, t));
export const binaryCrossEntropyWithLogits = (input: Var, t: Var | Tensor, opts: { reduction?: Reduction; posWeight?: Tensor } = {}): Var => new BCEWithLogitsLoss(opts).forward(input, target(input, t));
