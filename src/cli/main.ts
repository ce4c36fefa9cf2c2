/**
 * The `rosetta` command line: a thin commander layer over the public API.
 *
 * Contracts other tools rely on (issue 2): exit 0 on success, 1 with the `RosettaError` message
 * (code first, no stack) on failure or parity beyond tolerance, 2 on usage errors. `main(argv, io)`
 * runs a command in-process with injected output, which is how the tests drive it; the module runs
 * itself only when it is the program's entry (`bin/rosetta.js` or `node dist/cli/main.js`).
 *
 * Subcommands are registered only once they work.
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isRosettaError } from '../ir/errors.js';
import type { FormatName } from '../importers/types.js';
import { benchCommand } from './bench.js';
import { convertCommand, parityCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { FINETUNE_LOSSES, FINETUNE_OPTIMIZERS, finetuneCommand, type FinetuneOptions } from './finetune.js';
import { inspectCommand } from './inspect.js';
import type { CliIo } from './io.js';
import { runCommand } from './run.js';
import '../kernels/webgpu/index.js'; // registers the 'webgpu' backend for --backend
import { registerNodeWebGpu } from '../node/webgpu-env.js';

export type { CliIo } from './io.js';

const VERSION = '0.1.0';
const FORMATS: FormatName[] = ['onnx', 'pytorch', 'safetensors', 'keras-h5', 'keras', 'keras-json', 'tfjs'];

function number(what: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${what} must be a non-negative number`);
    return x;
  };
}

function integer(what: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x <= 0) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return x;
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const formatOption = (flags: string, what: string): Option => new Option(flags, what).choices(FORMATS);

/** Build the program; `exit` receives each command's exit code. */
function program(io: CliIo, exit: (code: number) => void): Command {
  const p = new Command('rosetta')
    .description('Move neural-network models between PyTorch and TensorFlow/Keras, run them and prove they compute the same.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(run with --help for usage)');

  p.command('inspect')
    .description('show format, producer, opsets, inputs/outputs, parameters and op histogram (or the tensors of a weights file)')
    .argument('<file>', 'model or weights file')
    .option('--json', 'print JSON instead of tables')
    .addOption(formatOption('--from <format>', 'force the input format'))
    .option('--key <name>', 'take the weights from this entry of a checkpoint (e.g. state_dict, model_state_dict, model.ema)')
    .action(async (file: string, o: { json?: boolean; from?: FormatName; key?: string }) => exit(await inspectCommand(file, o, io)));

  p.command('run')
    .description('run a model once and write each output as DIR/<output name>.npy')
    .argument('<model>', 'model file')
    .option('--input <name=file>', 'feed input NAME from a .npy or ONNX TensorProto .pb file (repeatable)', collect)
    .option('--inputs <file.npz>', 'feed inputs from a .npz (array names = input names)')
    .requiredOption('--out <dir>', 'folder for the output .npy files')
    .option('--backend <name>', 'execution backend', 'cpu')
    .addOption(formatOption('--from <format>', 'force the model format'))
    .action(async (model: string, o: { input?: string[]; inputs?: string; out: string; backend?: string; from?: FormatName }) => exit(await runCommand(model, o, io)));

  p.command('convert')
    .description('convert between formats (chosen by magic bytes, then extension), optionally verifying the outputs')
    .argument('<in>', 'input model or weights file')
    .argument('<out>', 'output file (its extension picks the format unless --to is given)')
    .addOption(formatOption('--from <format>', 'force the input format'))
    .option('--key <name>', 'take the weights from this entry of a checkpoint (e.g. state_dict, model_state_dict, model.ema)')
    .addOption(formatOption('--to <format>', 'force the output format'))
    .option('--opset <n>', 'ONNX output: target opset', integer('--opset'))
    .option('--optimize', 'fold constants, cancel transpose pairs and remove dead code before writing')
    .option('--verify', 'run source and target on the same inputs and compare every output')
    .option('--inputs <file.npz>', 'inputs for --verify (default: seeded random inputs)')
    .option('--rtol <x>', 'relative tolerance for --verify', number('--rtol'))
    .option('--atol <x>', 'absolute tolerance for --verify', number('--atol'))
    .option('--seed <n>', 'seed for random --verify inputs', number('--seed'))
    .option('--report <file.json>', 'write a JSON report (files, rewrites, binding, parity)')
    .option('--arch <file>', 'architecture (any full model file) for a weights-only input; weights are bound by layer kind, order and shape')
    .option('--map <regex=replacement>', 'rename weight keys before binding (repeatable, applied in order)', collect)
    .option('--partial', 'allow architecture parameters without weights (they keep the architecture\'s values)')
    .addOption(new Option('--keras-data-format <format>', 'data_format of the Keras model Keras-named weights come from, when the architecture is not a Keras model (decides the Flatten→Dense row order)').choices(['channels_last', 'channels_first']))
    .option('--allow-custom', 'fall back to documented generic forms where the target has no layer (docs/conversion.md)')
    .option('--per-layer', 'with --verify: compare intermediate outputs of layers matched by scope and name the first that diverges')
    .action(async (i: string, out: string, o: Parameters<typeof convertCommand>[2]) => exit(await convertCommand(i, out, o, io)));

  p.command('parity')
    .description('run two models on the same inputs and compare every output (exit 1 beyond tolerance)')
    .argument('<a>', 'reference model (or weights file)')
    .argument('<b>', 'model or weights file to check')
    .option('--inputs <file.npz>', 'inputs (default: seeded random inputs fitting A)')
    .option('--rtol <x>', 'relative tolerance', number('--rtol'))
    .option('--atol <x>', 'absolute tolerance', number('--atol'))
    .option('--seed <n>', 'seed for random inputs', number('--seed'))
    .option('--json', 'print JSON')
    .option('--arch <file>', 'architecture for a weights-only A or B (default: the other file\'s architecture)')
    .option('--map <regex=replacement>', 'rename weight keys before binding (repeatable)', collect)
    .option('--partial', 'allow architecture parameters without weights')
    .addOption(new Option('--keras-data-format <format>', 'data_format of the Keras model Keras-named weights come from, when the architecture is not a Keras model (decides the Flatten→Dense row order)').choices(['channels_last', 'channels_first']))
    .option('--per-layer', 'also compare intermediate outputs of layers matched by scope')
    .action(async (a: string, b: string, o: Parameters<typeof parityCommand>[2]) => exit(await parityCommand(a, b, o, io)));

  p.command('bench')
    .description('time the forward pass of a model (median/min/mean); `npm run bench` compares with onnxruntime')
    .argument('<model>', 'model file')
    .option('--inputs <file.npz>', 'inputs (default: seeded random inputs, symbolic dims = 1)')
    .option('--iterations <n>', 'timed runs', integer('--iterations'), 20)
    .option('--warmup <n>', 'untimed runs first', number('--warmup'), 3)
    .option('--backend <name>', 'execution backend', 'cpu')
    .option('--json', 'print JSON')
    .addOption(formatOption('--from <format>', 'force the model format'))
    .action(async (model: string, o: Parameters<typeof benchCommand>[1]) => exit(await benchCommand(model, o, io)));

  p.command('finetune')
    .description('train any importable model on the IR (PyTorch-style loop over the runtime\'s autograd) and write the tuned model or weights')
    .argument('<model>', 'model file, or a weights file with --arch')
    .option('--arch <file>', 'architecture (any full model file) for a weights-only MODEL')
    .option('--key <name>', 'take the weights from this entry of a checkpoint (e.g. state_dict, model_state_dict, model.ema)')
    .option('--map <regex=replacement>', 'rename weight keys before binding (repeatable)', collect)
    .option('--partial', 'allow architecture parameters without weights')
    .addOption(new Option('--keras-data-format <format>', 'data_format of the Keras model Keras-named weights come from, when the architecture is not a Keras model (decides the Flatten→Dense row order)').choices(['channels_last', 'channels_first']))
    .addOption(formatOption('--from <format>', 'force the model format'))
    .addOption(formatOption('--to <format>', 'force the output format'))
    .option('--backend <name>', 'backend that runs each step\'s backward graph (cpu, webgpu); the forward runs on the CPU', 'cpu')
    .requiredOption('--data <train.npz>', "training data: 'y' plus 'x' or one array per model input")
    .option('--val <val.npz>', 'validation data, evaluated after each epoch')
    .requiredOption('--epochs <n>', 'epochs', integer('--epochs'))
    .requiredOption('--batch-size <n>', 'batch size', integer('--batch-size'))
    .requiredOption('--lr <x>', 'learning rate', number('--lr'))
    .addOption(new Option('--optimizer <name>', 'optimizer (PyTorch defaults)').choices([...FINETUNE_OPTIMIZERS]).default('adam'))
    .addOption(new Option('--loss <name>', 'loss').choices([...FINETUNE_LOSSES]).makeOptionMandatory())
    .option('--no-shuffle', 'keep the sample order (default: seeded shuffle every epoch)')
    .option('--seed <n>', 'shuffling seed', number('--seed'), 0)
    .option('--freeze <regex>', 'freeze parameters whose name (or source key) matches')
    .option('--log <file.csv>', 'write the loss of every step as CSV')
    .requiredOption('--out <file>', 'output file; its extension (or --to) picks the format')
    .action(async (model: string, o: FinetuneOptions) => exit(await finetuneCommand(model, o, io)));

  p.command('demo')
    .description('the seed programs end to end: house prices fitted Keras-style → .pt → trained PyTorch-style; the seed CNN trained → .keras/.onnx/.safetensors → reloaded with parity')
    .option('--out <dir>', 'keep the exported files in DIR')
    .action(async (o: { out?: string }) => exit(await demoCommand(o, io)));

  return p;
}

const processIo: CliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), isTTY: process.stderr.isTTY === true };

/**
 * Run the CLI with `argv` (arguments after the program name). Returns the exit code; never
 * throws and never calls `process.exit`.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  registerNodeWebGpu(); // `--backend webgpu` without a usable GPU driver: SwiftShader, if installed
  let code = 0;
  const p = program(io, (c) => {
    code = c;
  });
  try {
    await p.parseAsync([...argv], { from: 'user' });
    if (argv.length === 0) {
      io.stdout(p.helpInformation());
      return 2;
    }
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are successful exits; every other commander error is a usage error
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      return 2;
    }
    if (isRosettaError(e)) {
      io.stderr(`${e.message}\n`);
      return e.code === 'E_USAGE' ? 2 : 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(`E_INTERNAL: ${msg}. This is a bug in Rosetta; please report it with the command you ran\n`);
    if (process.env.ROSETTA_DEBUG && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    return 1;
  }
}

/** True when this module is the program being run (not imported by tests or other code). */
function isEntry(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    const real = realpathSync(arg);
    return real === realpathSync(fileURLToPath(import.meta.url)) || basename(real) === 'rosetta.js';
  } catch {
    return false;
  }
}

if (isEntry()) process.exitCode = await main(process.argv.slice(2));
