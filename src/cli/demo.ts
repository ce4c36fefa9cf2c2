/**
 * `rosetta demo`: the bundled MNIST-style CNN (fixtures/models/mnist-cnn.onnx, exported by
 * PyTorch 1.13 through fixtures/models/make_models.py) through import → run → export →
 * re-import → run, printing parity against PyTorch's own outputs and across the round trip.
 * It needs nothing but the installed package, so it is the first thing a new user runs.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parameterStats } from '../ir/graph.js';
import { loadModel, readTensorsFile, saveModel } from '../node/model-io.js';
import { withTempDir } from '../node/files.js';
import { compareOutputs, parityTable, runOnce, type Tolerance } from './compare.js';
import { formatBytes, type CliIo } from './io.js';

/** Folder of the bundled fixture models (the same relative place from src/cli and dist/cli). */
export function fixtureModelsDir(): string {
  return fileURLToPath(new URL('../../fixtures/models/', import.meta.url));
}

/** The `demo` command. */
export async function demoCommand(opts: { out?: string }, io: CliIo): Promise<number> {
  const dir = fixtureModelsDir();
  const path = join(dir, 'mnist-cnn.onnx');
  const model = await loadModel(path);
  const p = parameterStats(model.graph);
  io.stdout(`1. import   ${path}\n           ${model.graph.nodes.length} nodes (${model.graph.nodes.map((n) => n.opType).join(' → ')}), ${p.count.toLocaleString('en-US')} parameters (${formatBytes(p.bytes)}), from ${model.producerName ?? '?'} ${model.producerVersion ?? ''}\n`);

  const feeds = Object.fromEntries(await readTensorsFile(join(dir, 'mnist-cnn.inputs.npz')));
  const torchOut = Object.fromEntries(await readTensorsFile(join(dir, 'mnist-cnn.outputs.npz')));
  const first = await runOnce(model.graph, feeds);
  const vsTorch: Tolerance = { rtol: 1e-4, atol: 1e-5 };
  const rowsTorch = compareOutputs(torchOut, first, vsTorch);
  io.stdout(`2. run      on mnist-cnn.inputs.npz, compared with PyTorch's outputs:\n${indent(parityTable(rowsTorch, vsTorch))}`);

  const exact: Tolerance = { rtol: 0, atol: 0 };
  const roundTrip = async (folder: string): Promise<ReturnType<typeof compareOutputs>> => {
    const target = join(folder, 'mnist-cnn.roundtrip.onnx');
    const saved = await saveModel(model, target);
    io.stdout(`3. export   ${target} (${saved.format}, ${saved.paths.length} file(s))\n`);
    const again = await loadModel(target);
    io.stdout(`4. re-import ${again.graph.nodes.length} nodes\n`);
    const second = await runOnce(again.graph, feeds);
    return compareOutputs(first, second, exact);
  };
  const rowsTrip = opts.out ? await roundTrip(opts.out) : await withTempDir('rosetta-demo', roundTrip);
  io.stdout(`5. run      again; round trip must be bit-identical:\n${indent(parityTable(rowsTrip, exact))}`);
  const ok = rowsTorch.every((r) => r.ok) && rowsTrip.every((r) => r.ok);
  io.stdout(ok ? 'parity: OK\n' : 'parity: FAILED\n');
  return ok ? 0 : 1;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => (l ? `           ${l}` : l))
    .join('\n');
}
