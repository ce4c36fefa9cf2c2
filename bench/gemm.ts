/**
 * `node --import tsx bench/gemm.ts`: float32 GEMM throughput of the two micro-kernels behind
 * `sgemm` (plain-JS 4×4 and WebAssembly SIMD 4×8, src/kernels/cpu/gemm.ts) on the shapes the
 * fixture models produce (im2col convolutions, Linear layers at batch 1 and 32, LSTM steps), plus
 * square sizes. Reports the best of several rounds (GFLOP/s), which is far less sensitive to a
 * shared, loaded machine than a median. A benchmark, not a test: nothing here asserts speed.
 *   --rounds N   rounds per kernel and shape (default 5)
 */
import { activeGemmKernel, setGemmKernel, sgemm, type GemmKernel } from '../src/kernels/cpu/gemm.js';
import { seededRandom } from '../src/runtime/session.js';

interface Shape {
  what: string;
  M: number;
  N: number;
  K: number;
  transB: boolean;
}

const SHAPES: Shape[] = [
  { what: 'conv1 im2col (mnist, per image)', M: 32, N: 784, K: 9, transB: false },
  { what: 'conv2 im2col (mnist, per image)', M: 64, N: 196, K: 288, transB: false },
  { what: 'Linear 3136→128, batch 1', M: 1, N: 128, K: 3136, transB: true },
  { what: 'Linear 3136→128, batch 32', M: 32, N: 128, K: 3136, transB: true },
  { what: 'Linear 784→256, batch 32', M: 32, N: 256, K: 784, transB: true },
  { what: 'LSTM step H·Rᵀ (batch 8, hidden 64)', M: 8, N: 256, K: 64, transB: true },
  { what: 'square 256', M: 256, N: 256, K: 256, transB: false },
  { what: 'square 512', M: 512, N: 512, K: 512, transB: false },
];

const i = process.argv.indexOf('--rounds');
const rounds = i > 0 ? Number(process.argv[i + 1]) : 5;
const rnd = seededRandom(1);

function gflops(s: Shape, kernel: GemmKernel): number {
  setGemmKernel(kernel);
  const A = Float32Array.from({ length: s.M * s.K }, () => rnd() - 0.5);
  const B = Float32Array.from({ length: s.K * s.N }, () => rnd() - 0.5);
  const C = new Float32Array(s.M * s.N);
  const run = (): void => sgemm(false, s.transB, s.M, s.N, s.K, 1, A, 0, s.K, B, 0, s.transB ? s.K : s.N, 0, C, 0, s.N);
  const flop = 2 * s.M * s.N * s.K;
  const reps = Math.max(3, Math.ceil(5e7 / flop));
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    run();
    const t0 = performance.now();
    for (let k = 0; k < reps; k++) run();
    best = Math.max(best, (flop * reps) / ((performance.now() - t0) * 1e6));
  }
  return best;
}

const rows: string[][] = [['shape', 'M×N×K', 'js GFLOP/s', 'wasm GFLOP/s', 'speed-up']];
setGemmKernel('wasm');
const wasm = activeGemmKernel() === 'wasm';
for (const s of SHAPES) {
  const js = gflops(s, 'js');
  const w = wasm ? gflops(s, 'wasm') : NaN;
  rows.push([s.what, `${s.M}×${s.N}×${s.K}${s.transB ? ' (Bᵀ)' : ''}`, js.toFixed(2), wasm ? w.toFixed(2) : 'n/a', wasm ? `${(w / js).toFixed(1)}×` : '']);
}
setGemmKernel('wasm');
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`sgemm, best of ${rounds} rounds${wasm ? '' : ' (no WebAssembly SIMD here: wasm column not run)'}`);
for (const r of rows) console.log(r.map((v, c) => v.padEnd(widths[c]!)).join('  '));
