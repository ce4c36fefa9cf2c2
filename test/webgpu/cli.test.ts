/**
 * `rosetta run --backend webgpu` (in-process through `main`): the CLI finds the registered backend
 * and writes the same outputs as `--backend cpu` for fixtures/models/mnist-cnn.onnx.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readNpy } from '../../src/formats/npy.js';
import { backendNames } from '../../src/runtime/backend.js';
import { expectClose } from './compare.js';
import { GPU, GPU_SKIP } from './gpu-env.js';

const MODELS = join(import.meta.dirname, '..', '..', 'fixtures', 'models');

async function run(backend: string): Promise<{ code: number; out: string; err: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `rosetta-webgpu-${backend}-`));
  let out = '';
  let err = '';
  const code = await main(['run', join(MODELS, 'mnist-cnn.onnx'), '--inputs', join(MODELS, 'mnist-cnn.inputs.npz'), '--out', dir, '--backend', backend], { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  return { code, out, err, dir };
}

it('the CLI registers the webgpu backend', () => {
  expect(backendNames()).toContain('webgpu');
});

describe.skipIf(!GPU)(`rosetta run --backend webgpu${GPU_SKIP ? ` — skipped: ${GPU_SKIP}` : ''}`, () => {
  it('writes the same logits as --backend cpu', async () => {
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    expect(gpu.err).toBe('');
    expect(gpu.code).toBe(0);
    expect(cpu.code).toBe(0);
    const read = (dir: string) => readNpy(new Uint8Array(readFileSync(join(dir, 'logits.npy'))));
    expectClose(read(gpu.dir), read(cpu.dir), 'logits.npy');
  });
});
