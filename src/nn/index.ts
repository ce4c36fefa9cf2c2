/**
 * The PyTorch-style front end: `import { nn } from 'rosetta'` then `new nn.Linear(1, 1)`.
 * Modules build ONNX-op IR on an eager trace; see module.ts and trace.ts.
 */
export { Module, Sequential, ModuleList, type LoadReport, type StateDict } from './module.js';
export { Parameter, Buffer, initSeed } from './parameter.js';
export { Trace, Var, cat, manualSeed, noGrad, type TraceOptions } from './trace.js';
export { Linear, Embedding, Identity, Flatten, Dropout, ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax } from './layers.js';
export { ConvNd, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type ConvOptions } from './conv.js';
export { BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, type BatchNormOptions } from './norm.js';
export { LSTM, GRU, type RnnOptions } from './rnn.js';
export { MultiheadAttention } from './attention.js';
export { GraphModule } from './graph-module.js';
export * as F from './functional.js';
export { fit, evaluate, accuracy, lossByName, optimizerByName, EarlyStopping, ModelCheckpoint, type FitOptions, type History, type Callback, type LossName, type OptimizerName, type LossFn } from './fit.js';
export {
  MSELoss,
  L1Loss,
  HuberLoss,
  SmoothL1Loss,
  CrossEntropyLoss,
  NLLLoss,
  BCELoss,
  BCEWithLogitsLoss,
  sparseCategoricalCrossentropy,
  categoricalCrossentropy,
  binaryCrossentropy,
  meanSquaredError,
  meanAbsoluteError,
  type Reduction,
  type CrossEntropyOptions,
} from './loss.js';
export { SGD, Adam, AdamW, RMSprop, Adagrad, Optimizer, kerasDefaults, clipGradNorm, clipGradValue } from '../runtime/optim.js';
export { StepLR, ExponentialLR, CosineAnnealingLR, LinearLR, WarmupLR, LRScheduler } from '../runtime/optim-schedule.js';
export { DataLoader, takeRows } from '../runtime/data.js';
