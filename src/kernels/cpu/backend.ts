/** The CPU backend: host tensors, kernels from `CPU_KERNELS`. The reference for every other backend. */
import { AttrReader } from '../../ir/attrs.js';
import type { DType } from '../../ir/dtype.js';
import { RosettaError } from '../../ir/errors.js';
import { opKey, type Node } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Backend, BackendTensor, RunContext } from '../../runtime/backend.js';
import type { Value } from '../../runtime/value.js';
import { CPU_KERNELS } from './index.js';

export class CpuBackend implements Backend {
  readonly name = 'cpu';

  async upload(t: Tensor): Promise<BackendTensor> {
    return t;
  }

  async download(t: BackendTensor): Promise<Tensor> {
    return t as Tensor;
  }

  supports(node: Node, _dtypes: readonly (DType | undefined)[]): boolean {
    return opKey(node) in CPU_KERNELS;
  }

  async run(node: Node, inputs: readonly (Value | BackendTensor | undefined)[], ctx: RunContext): Promise<Value[]> {
    const k = CPU_KERNELS[opKey(node)];
    if (!k) throw new RosettaError('E_UNSUPPORTED_OP', `no CPU kernel for ${opKey(node)}`, { where: { node: node.name } });
    return k(inputs as (Value | undefined)[], { ...ctx, node, attrs: new AttrReader(node.attrs, node) });
  }

  dispose(_t: BackendTensor): void {}
}
