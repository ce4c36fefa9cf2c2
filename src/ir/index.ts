/** The IR: dtypes, tensors, graphs, attributes, typed errors and shape inference (public surface of src/ir). */
export * from './attrs.js';
export * from './dtype.js';
export * from './errors.js';
export * from './float-bits.js';
export * from './graph.js';
export * from './infer.js';
export * from './tensor.js';
