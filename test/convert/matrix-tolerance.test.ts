/**
 * `--verify`/`parity` default tolerances follow each output's dtype when `--rtol/--atol` are not
 * given: float32 1e-4/1e-5, float16 1e-2/1e-3, integers exact. Two hand-built IR models differ
 * by a relative 5e-4 in a float16 output (beyond float32's default, within float16's), and agree
 * exactly on an int64 ArgMax output.
 */
import { describe, expect, it } from 'vitest';
import { compareModels, dtypeTolerance } from '../../src/cli/convert.js';
import { DEFAULT_TOLERANCE } from '../../src/cli/compare.js';
import { emptyGraph, emptyModel, makeNode, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';

function model(scale: number): Model {
  const g = emptyGraph();
  g.inputs.push({ name: 'x', type: { kind: 'tensor', dtype: 'float32', shape: [2, 4] } });
  g.outputs.push({ name: 'half' }, { name: 'arg' });
  g.initializers.set('s', Tensor.scalar('float32', scale));
  g.nodes.push(makeNode('Mul', ['x', 's'], ['m']));
  g.nodes.push(makeNode('Cast', ['m'], ['half'], { to: { type: 'int', value: 10 } }));
  g.nodes.push(makeNode('ArgMax', ['x'], ['arg'], { axis: { type: 'int', value: 1 } }));
  return emptyModel(g);
}

const x = new Tensor('float32', [2, 4], Float32Array.from([0.5, 1, 2, 3, -1, 4, 0.25, 2]));

describe('default tolerance by dtype', () => {
  it('has the documented defaults', () => {
    expect(dtypeTolerance('float32')).toEqual(DEFAULT_TOLERANCE);
    expect(dtypeTolerance('float16')).toEqual({ rtol: 1e-2, atol: 1e-3 });
    expect(dtypeTolerance('int64')).toEqual({ rtol: 0, atol: 0 });
  });

  it('a float16 output within half precision passes by default and fails at float32 tolerance', async () => {
    const rows = await compareModels(model(1), model(1.0005), { x }, DEFAULT_TOLERANCE, {});
    expect(rows.map((r) => [r.name, r.dtype, r.ok])).toEqual([
      ['half', 'float16', true],
      ['arg', 'int64', true],
    ]);
    const strict = await compareModels(model(1), model(1.0005), { x }, DEFAULT_TOLERANCE, DEFAULT_TOLERANCE);
    expect(strict[0]!.ok).toBe(false);
  });

  it('integer outputs must be exact by default', async () => {
    const other = model(1);
    other.graph.nodes[2] = makeNode('ArgMin', ['x'], ['arg'], { axis: { type: 'int', value: 1 } });
    const rows = await compareModels(model(1), other, { x }, DEFAULT_TOLERANCE, {});
    expect(rows.find((r) => r.name === 'arg')!.ok).toBe(false);
  });
});
