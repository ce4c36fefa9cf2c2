/**
 * `GraphModule`: any IR graph (imported from ONNX, Keras or PyTorch + architecture) as a
 * trainable `Module`. Float initializers become parameters keyed by their initializer names (so
 * `stateDict()` / `loadStateDict()` speak the source's names), `graph.params` marks buffers and
 * frozen weights (`trainable: false`), and `forward` replays the graph's nodes on the caller's
 * trace — so src/nn losses, `backward()` and the optimizers fine-tune imported models unchanged.
 */
import { RosettaError } from '../ir/errors.js';
import { nodeDependencies, topoSort, type Graph, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { renameCaptures } from '../runtime/autograd.js';
import { Module } from './module.js';
import { Buffer, Parameter } from './parameter.js';
import type { Var } from './trace.js';

export class GraphModule extends Module {
  private readonly _tensors = new Map<string, Parameter>();
  /** Non-float initializers (shapes, axes, indices): constants, not state. */
  private readonly _constants = new Map<string, Tensor>();

  /**
   * BatchNormalization in training mode: 'batch' (default) normalises with batch statistics and
   * updates the running statistics (the node's ONNX momentum convention, as Keras and
   * torch.onnx exports write it); 'frozen' keeps the stored statistics (common for fine-tuning).
   */
  batchNorm: 'batch' | 'frozen' = 'batch';

  constructor(readonly graph: Graph) {
    super();
    // Running statistics are state, not weights, whatever the source says about them.
    const stats = new Set<string>();
    for (const n of graph.nodes) if (n.opType === 'BatchNormalization' && n.domain === '') for (const i of [n.inputs[3], n.inputs[4]]) if (i) stats.add(i);
    for (const [name, t] of graph.initializers) {
      const info = graph.params.get(name);
      if (t.dtype !== 'float32' && t.dtype !== 'float64') {
        this._constants.set(name, t);
        continue;
      }
      // A private copy: training must not modify the imported model's tensors.
      const copy = new Tensor(t.dtype, t.shape, (t.data as Float32Array).slice());
      const p = stats.has(name) ? new Buffer(copy) : new Parameter(copy, info?.trainable ?? true);
      this._tensors.set(name, p);
    }
  }

  static fromModel(model: Model): GraphModule {
    return new GraphModule(model.graph);
  }

  protected override ownTensors(): [string, Parameter][] {
    return [...this._tensors];
  }

  /** Graph inputs that are not initializers, in order (what `forward` expects). */
  get inputNames(): string[] {
    return this.graph.inputs.filter((i) => !this.graph.initializers.has(i.name)).map((i) => i.name);
  }

  forward(...inputs: Var[]): Var | Var[] {
    const names = this.inputNames;
    if (inputs.length !== names.length) throw new RosettaError('E_USAGE', `the graph takes ${names.length} inputs (${names.join(', ')}), got ${inputs.length}`);
    const t = inputs[0]!.trace;
    const env = new Map<string, Var>();
    names.forEach((n, i) => env.set(n, inputs[i]!));
    const get = (name: string): Var => {
      let v = env.get(name);
      if (v) return v;
      const p = this._tensors.get(name);
      if (p) v = t.param(p, this.graph.params.get(name)?.role ?? 'weight', p.requiresGrad && !(p instanceof Buffer));
      else {
        const c = this._constants.get(name);
        if (!c) throw new RosettaError('E_INVALID_GRAPH', `value '${name}' is produced by nothing`);
        v = t.constant(c, 'const');
      }
      env.set(name, v);
      return v;
    };
    for (const node of topoSort(this.graph)) {
      const ins = node.inputs.map((n) => (n ? get(n) : undefined));
      const bnTrain = this.training && this.batchNorm === 'batch' && node.opType === 'BatchNormalization' && node.domain === '' && !node.attrs.training_mode?.value;
      let attrs = bnTrain ? { ...node.attrs, training_mode: { type: 'int' as const, value: 1 } } : node.attrs;
      const captured = nodeDependencies(node).slice(node.inputs.length);
      if (captured.length) {
        // Subgraphs (If branches) read enclosing values by the graph's names; on the trace those
        // values have the trace's names (parameters, earlier outputs), so the branches are renamed.
        const renamed = new Map(captured.map((c) => [c, get(c).name]));
        attrs = Object.fromEntries(Object.entries(attrs).map(([k, a]) => [k, renameCaptures(a, renamed)]));
      }
      const outs = t.opN(node.opType, ins, attrs, bnTrain ? 3 : node.outputs.length, { domain: node.domain, scope: node.scope });
      if (bnTrain) {
        for (const k of [3, 4]) {
          const buf = this._tensors.get(node.inputs[k]!);
          if (buf) buf.copyFrom(outs[k - 2]!.value);
        }
      }
      node.outputs.forEach((o, k) => o && env.set(o, outs[k]!));
    }
    const outs = this.graph.outputs.map((o) => get(o.name));
    return outs.length === 1 ? outs[0]! : outs;
  }
}
