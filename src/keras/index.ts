/**
 * The Keras-style front end: `Sequential`, functional `Input`/`Model`, `layers.*`, Keras
 * initialisers, `compile`/`fit`/`evaluate` with Keras optimizers, losses and metrics, the
 * EarlyStopping and ModelCheckpoint callbacks, and in-memory `toFiles`/`fromFiles`.
 * Browser-safe; the Node file system for `save(path)`/`loadModel(path)` is in src/node/keras.ts.
 */
export { Input, Layer, SymbolicTensor, clearSession, layers, type LayerArgs, type BaseLayerArgs, type LayerClassName } from './layers.js';
export { Model, Sequential, setRandomSeed, API_KERAS_VERSION, type LayerSummary } from './model.js';
export { initialize, computeFans, RandomSource, serializeInitializer, type InitializerSpec } from './initializers.js';
export { History, optimizers, type CompileArgs, type FitArgs, type Logs, type LossSpec, type OptimizerSpec, type KerasOptimizer } from './training.js';
export { Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, formatCheckpointPath, type EarlyStoppingArgs, type ModelCheckpointArgs, type CheckpointWriter } from './callbacks.js';
export { registerKerasFileSystem, type KerasFileSystem, type ModelFiles } from './files.js';
