/**
 * `rosetta run MODEL --input NAME=FILE ... [--inputs X.npz] --out DIR [--backend cpu]`:
 * run a model once and write each output as `DIR/<output name>.npy` (names made file-safe;
 * sequence outputs as `<name>_<i>.npy`), printing a one-line summary per output.
 */
import type { FormatName } from '../importers/types.js';
import { RosettaError } from '../ir/errors.js';
import { backendNames } from '../runtime/backend.js';
import { Session } from '../runtime/session.js';
import { isOptional, isSequence, isTensor } from '../runtime/value.js';
import { writeNpy } from '../formats/npy.js';
import { loadModel, writeFiles } from '../node/model-io.js';
import { checkFeeds, readFeeds, safeFileStem, summarise } from './feeds.js';
import type { CliIo } from './io.js';

export interface RunOptions {
  input?: string[];
  inputs?: string;
  out: string;
  backend?: string;
  from?: FormatName;
}

/** The `run` command. */
export async function runCommand(modelPath: string, opts: RunOptions, io: CliIo): Promise<number> {
  const backend = opts.backend ?? 'cpu';
  if (!backendNames().includes(backend)) throw new RosettaError('E_USAGE', `unknown backend '${backend}'`, { hint: `available: ${backendNames().join(', ')}` });
  const model = await loadModel(modelPath, { format: opts.from });
  const feeds = await readFeeds(opts.inputs, opts.input ?? []);
  checkFeeds(model.graph, feeds, modelPath);
  const session = await Session.create(model, { backend });
  const { outputs } = await session.run(feeds);
  const files = new Map<string, Uint8Array>();
  const taken = new Set<string>();
  for (const [name, v] of Object.entries(outputs)) {
    if (isTensor(v)) files.set(`${safeFileStem(name, taken)}.npy`, writeNpy(v));
    else if (isSequence(v)) v.items.forEach((t, i) => files.set(`${safeFileStem(`${name}_${i}`, taken)}.npy`, writeNpy(t)));
    else if (isOptional(v) && v.value !== null && isTensor(v.value)) files.set(`${safeFileStem(name, taken)}.npy`, writeNpy(v.value));
    io.stdout(summarise(name, v) + '\n');
  }
  await writeFiles(opts.out, files);
  io.stdout(`wrote ${files.size} file(s) to ${opts.out}\n`);
  return 0;
}
