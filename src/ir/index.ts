export * from './attrs.js';
export * from './dtype.js';
export * from './errors.js';
export * from './float-bits.js';
export * from './graph.js';
export * from './infer.js';
export * from './tensor.js';
