/**
 * Any-to-any conversion (issue 5): structural weight binding, IR → PyTorch (state dict + `src/nn`
 * module source) and per-layer parity. The whole-file conversions and `--verify` live in the CLI
 * (`src/cli/convert.ts`) over these functions. See docs/conversion.md for every rewrite.
 */
export { bindWeights, parseMapRule, type BindOptions, type BindingReport, type MapRule, type TransformedEntry } from './binding.js';
export { planPyTorch, sanitizeKey, type TorchLayer, type TorchPlan, type ToPyTorchOptions } from './to-pytorch.js';
export { compareLayers, type LayerParity, type LayerReport } from './per-layer.js';
