/**
 * Resuming training from a PyTorch checkpoint: the model state and the optimizer state that
 * PyTorch 1.13 saved after 3 steps (fixtures/pytorch/make_optim_resume.py) load into src/nn and
 * the matching optimizer (`loadStateDict`), and 3 more steps reach PyTorch's weights after 6.
 * Also: Rosetta's own `stateDict()` resumes the run, and a state saved with other
 * hyperparameters or for other shapes is refused without changing anything.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz, writeNpz } from '../../src/formats/npy.js';
import { writeTorchObject } from '../../src/formats/torch.js';
import { importFile } from '../../src/importers/index.js';
import { isRosettaError } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD, type Optimizer } from '../../src/runtime/optim.js';
import { expectClose } from '../nn/helpers.js';
import { SYSTEM_PYTHON } from '../helpers/corpus.js';

const TORCH_OK = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'pytorch');
const arrays = readNpz(new Uint8Array(readFileSync(join(DIR, 'optim_resume.npz'))), 'optim_resume.npz');
const x = arrays.get('x')!;
const y = arrays.get('y')!;

const CONFIGS: Record<string, (p: nn.Parameter[]) => Optimizer> = {
  adam: (p) => new Adam(p, { lr: 0.01 }),
  adamw: (p) => new AdamW(p, { lr: 0.01, weightDecay: 0.05 }),
  sgd: (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true }),
  rmsprop: (p) => new RMSprop(p, { lr: 0.01, momentum: 0.5, centered: true }),
  adagrad: (p) => new Adagrad(p, { lr: 0.05, lrDecay: 0.01, initialAccumulatorValue: 0.1 }),
};

const mlp = () => new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3));

async function checkpoint(name: string, key: string) {
  const r = await importFile({ name: `optim_resume_${name}.pt`, bytes: new Uint8Array(readFileSync(join(DIR, `optim_resume_${name}.pt`))) }, { key });
  if (r.kind !== 'weights') throw new Error('expected weights');
  return r.weights;
}

async function steps(model: nn.Module, opt: Optimizer, n: number): Promise<void> {
  const crit = new nn.CrossEntropyLoss();
  for (let i = 0; i < n; i++) {
    opt.zeroGrad();
    await crit.callVar(model.callVar(x), y).backward();
    opt.step();
  }
}

describe('optimizer state in PyTorch\'s layout', () => {
  for (const name of Object.keys(CONFIGS)) {
    it(`${name}: PyTorch's checkpoint after 3 steps + 3 Rosetta steps = PyTorch's weights after 6`, async () => {
      const model = mlp();
      model.loadStateDict((await checkpoint(name, 'model_state_dict')).tensors);
      const opt = CONFIGS[name]!(model.parameters());
      opt.loadStateDict(await checkpoint(name, 'optimizer_state_dict'));
      await steps(model, opt, 3);
      for (const [k, p] of model.namedParameters()) expectClose(p.data, arrays.get(`${name}.${k}`)!, { rtol: 1e-5, atol: 1e-6, what: `${name} ${k}` });
      // without the optimizer state the same 3 steps land elsewhere (the state is what resumes)
      const fresh = mlp();
      fresh.loadStateDict((await checkpoint(name, 'model_state_dict')).tensors);
      await steps(fresh, CONFIGS[name]!(fresh.parameters()), 3);
      const a = fresh.namedParameters()[0]![1].data.toNumbers();
      const b = arrays.get(`${name}.0.weight`)!.toNumbers();
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-4);
    });
  }

  it("Rosetta's own stateDict resumes the run (moments saved in the parameter's dtype, as PyTorch stores them)", async () => {
    for (const name of Object.keys(CONFIGS)) {
      nn.initSeed(3);
      const a = mlp();
      const optA = CONFIGS[name]!(a.parameters());
      await steps(a, optA, 2);
      const b = mlp();
      b.loadStateDict(a.stateDict());
      const optB = CONFIGS[name]!(b.parameters());
      const sd = optA.stateDict();
      expect([...sd.tensors.keys()].some((k) => k.endsWith('.step'))).toBe(true);
      optB.loadStateDict(sd);
      await steps(a, optA, 2);
      await steps(b, optB, 2);
      // Rosetta keeps float64 moments; the saved float32 copy differs in the last bits only
      for (const [k, p] of a.namedParameters()) expectClose(b.stateDict().get(k)!, p.data, { rtol: 1e-6, atol: 1e-7, what: `${name} ${k}` });
    }
  });

  it('a state saved with other hyperparameters or for other shapes is refused, leaving the optimizer as it was', async () => {
    const model = mlp();
    const sd = await checkpoint('adam', 'optimizer_state_dict');
    const other = new Adam(model.parameters(), { lr: 0.01, betas: [0.8, 0.999] });
    const errOf = (f: () => void): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = errOf(() => other.loadStateDict(sd));
    expect(isRosettaError(e1) && e1.code).toBe('E_USAGE');
    const small = new Adam([new nn.Parameter(new Tensor('float32', [2]))], { lr: 0.01 });
    const e2 = errOf(() => small.loadStateDict(sd));
    expect(isRosettaError(e2) && (e2.code === 'E_SHAPE_MISMATCH' || e2.code === 'E_USAGE')).toBe(true);
    expect(small.stateDict().tensors.size).toBe(0);
  });
});

describe('a Rosetta checkpoint resumes in PyTorch', () => {
  it('writeTorchObject(model + torchState()) reads back through our .pt reader as the same state', async () => {
    const model = mlp();
    const opt = new Adam(model.parameters(), { lr: 0.01 });
    await steps(model, opt, 2);
    const bytes = writeTorchObject(new Map<string, unknown>([['model_state_dict', { ordered: model.stateDict() }], ['optimizer_state_dict', opt.torchState()], ['epoch', 2]]) as never);
    const r = await importFile({ name: 'ckpt.pt', bytes }, { key: 'optimizer_state_dict' });
    if (r.kind !== 'weights') throw new Error('expected weights');
    const again = new Adam(mlp().parameters(), { lr: 0.01 });
    again.loadStateDict(r.weights);
    const a = opt.stateDict();
    const b = again.stateDict();
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [k, t] of a.tensors) expect(Array.from(b.tensors.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    expect(r.weights.metadata['param_groups.0.betas.1']).toBe('0.999');
  });

  // torch.load without weights_only: PyTorch 1.13's weights-only unpickler has no float opcode
  // (BINFLOAT), so it refuses optimizer checkpoints torch.save itself writes (lr, betas) just the same.
  it.skipIf(!TORCH_OK)('real PyTorch 1.13 loads it into torch.optim and resumes to where Rosetta resumes (skipped without python3-torch)', async () => {
    for (const name of ['adam', 'sgd', 'rmsprop', 'adagrad', 'adamw']) {
      nn.initSeed(5);
      const model = mlp();
      const opt = CONFIGS[name]!(model.parameters());
      await steps(model, opt, 3);
      const dir = mkdtempSync(join(tmpdir(), 'rosetta-ckpt-'));
      writeFileSync(join(dir, 'ckpt.pt'), writeTorchObject(new Map<string, unknown>([['model_state_dict', { ordered: model.stateDict() }], ['optimizer_state_dict', opt.torchState()], ['epoch', 3]]) as never));
      writeFileSync(join(dir, 'data.npz'), writeNpz(new Map([['x', x], ['y', y]])));
      await steps(model, opt, 3);
      const script = [
        'import sys, json, numpy as np, torch',
        'torch.set_num_threads(1)',
        'ck = torch.load(sys.argv[1] + "/ckpt.pt")',
        'm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))',
        'm.load_state_dict(ck["model_state_dict"], strict=True)',
        `make = {"adam": lambda p: torch.optim.Adam(p, lr=0.01), "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05), "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True), "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)}["${name}"]`,
        'opt = make(m.parameters())',
        'opt.load_state_dict(ck["optimizer_state_dict"])',
        'd = np.load(sys.argv[1] + "/data.npz")',
        'x = torch.from_numpy(d["x"]); y = torch.from_numpy(d["y"])',
        'for _ in range(3):',
        '    opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()',
        'print(json.dumps({k: v.flatten().tolist() for k, v in m.state_dict().items()}))',
      ].join('\n');
      const r = spawnSync(SYSTEM_PYTHON, ['-c', script, dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number[]>;
      for (const [k, p] of model.namedParameters()) {
        const mine = p.data.toNumbers();
        mine.forEach((v, i) => expect(Math.abs(v - theirs[k]![i]!), `${name} ${k}[${i}]`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(v)));
      }
    }
  });
});
