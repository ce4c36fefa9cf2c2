/**
 * Control flow as PyTorch really exports it: TorchScript loops over lists, a data-dependent if,
 * and a while loop with a break condition, exported by torch.onnx (torch 1.13, opset 17) into
 * Loop / If / SequenceEmpty / SequenceInsert / ConcatFromSequence graphs. Imported with the ONNX
 * importer, run on the CPU executor and compared with the outputs PyTorch computed.
 * Fixtures: fixtures/ops/control-flow/*.onnx + *.json from make_control_flow.py (same folder).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { importOnnx } from '../../src/importers/onnx/index.js';
import { Session } from '../../src/runtime/session.js';
import { PROJECT_ROOT } from '../helpers/corpus.js';
import { expectTensorClose, toTensor, type JTensor } from './tensor-goldens.js';

const DIR = join(PROJECT_ROOT, 'fixtures', 'ops', 'control-flow');

interface Fixture {
  sets: { inputs: Record<string, JTensor>; outputs: Record<string, JTensor> }[];
}

describe('torch-exported control flow runs like PyTorch', () => {
  it.each(['list_loop', 'branch', 'while_break'])('%s', async (name) => {
    const model = await importOnnx(readFileSync(join(DIR, `${name}.onnx`)), { name: `${name}.onnx` });
    const fixture = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Fixture;
    const session = await Session.create(model);
    for (const [k, set] of fixture.sets.entries()) {
      const feeds = Object.fromEntries(Object.entries(set.inputs).map(([n, t]) => [n, toTensor(t)]));
      const { outputs } = await session.run(feeds);
      for (const [n, t] of Object.entries(set.outputs)) expectTensorClose(outputs[n], toTensor(t), `set ${k} output ${n}`);
    }
  });
});
