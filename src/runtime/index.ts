/** The runtime: the backend registry, the executor (Session) and runtime values (public surface of src/runtime; autograd and optimizers are exported from the package root). */
export * from './backend.js';
export * from './session.js';
export * from './value.js';
