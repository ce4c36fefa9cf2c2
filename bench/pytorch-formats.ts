/**
 * Throughput of the PyTorch-side formats on a synthetic state dict (default 64 tensors, 100 MB of
 * float32, plus one transposed view to exercise the strided copy): `.pt` write and read (zip +
 * pickle + CRC-32 + copy), safetensors write and read, the legacy and corpus paths are covered by
 * tests only. Also times reading ../shared/corpus/pytorch/mnist.pt when present.
 * Run: `node --import tsx bench/pytorch-formats.ts [--mb N]` — prints median ms and MB/s.
 * A benchmark, not a test: nothing here asserts speed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors.js';
import { crc32 } from '../src/formats/zip.js';
import { TorchTensorRef, readTorch, writeTorch } from '../src/formats/torch.js';
import { Tensor } from '../src/ir/tensor.js';
import { readPytorchWeights } from '../src/importers/pytorch/index.js';

const arg = process.argv.indexOf('--mb');
const MB = arg > 0 ? Number(process.argv[arg + 1]) : 100;

function median(label: string, bytes: number, f: () => void, runs = 5): void {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const ms = t[Math.floor(t.length / 2)]!;
  console.log(`${label.padEnd(40)} ${ms.toFixed(1).padStart(9)} ms  ${((bytes / 1e6) / (ms / 1e3)).toFixed(0).padStart(6)} MB/s`);
}

const n = 64;
const per = Math.floor((MB * 1e6) / 4 / n);
const tensors = new Map<string, Tensor>();
for (let i = 0; i < n; i++) {
  const a = new Float32Array(per);
  for (let j = 0; j < per; j++) a[j] = Math.sin(i * 31 + j);
  tensors.set(`layer${i}.weight`, new Tensor('float32', [per], a));
}
const total = n * per * 4;
console.log(`state dict: ${n} float32 tensors, ${(total / 1e6).toFixed(1)} MB`);

let pt: Uint8Array = new Uint8Array(0);
median('crc32', total / n, () => void crc32(new Uint8Array((tensors.get('layer0.weight')!.data as Float32Array).buffer)));
median('writeTorch (.pt zip)', total, () => void (pt = writeTorch(tensors)));
median('readPytorchWeights (.pt → tensors)', total, () => void readPytorchWeights(pt, 'bench.pt'));
let st: Uint8Array = new Uint8Array(0);
median('writeSafetensors', total, () => void (st = writeSafetensors(tensors)));
median('readSafetensors', total, () => void readSafetensors(st));

// Strided materialisation: a 2048×2048 float32 matrix saved transposed.
const side = 2048;
const m = new Float32Array(side * side).map((_, i) => i);
const tp = writeTorch(new Map([['m', new Tensor('float32', [side, side], m)]]));
const stored = (readTorch(tp).value as Map<string, TorchTensorRef>).get('m')!;
const transposed = new TorchTensorRef(stored.storage, 0, [side, side], [1, side], false);
median('strided materialize 2048×2048 f32', side * side * 4, () => void transposed.materialize());

const mnist = fileURLToPath(new URL('../../shared/corpus/pytorch/mnist.pt', import.meta.url));
if (existsSync(mnist)) {
  const b = new Uint8Array(readFileSync(mnist));
  median('corpus mnist.pt (1.5 MB)', b.length, () => void readPytorchWeights(b, 'mnist.pt'), 9);
} else console.log('corpus mnist.pt not found: skipped');
