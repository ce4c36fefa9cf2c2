/**
 * Keras weight initialisers, from a seeded generator, producing tensors in Keras layouts (Dense
 * kernel [in, out], Conv kernel [..., in, out], recurrent kernel [units, gates·units]).
 *
 * Formulas follow keras/src/initializers (Keras 2.15 / 3): `compute_fans` takes fan_in =
 * shape[-2]·receptive field and fan_out = shape[-1]·receptive field; variance scaling draws
 * uniform in ±√(3·scale/n), truncated normal with stddev √(scale/n)/0.8796 (the stddev of a unit
 * normal truncated at ±2), or normal; orthogonal takes Q of the QR decomposition of a normal
 * matrix, sign-corrected by diag(R). The random stream differs from TensorFlow's (the numbers are
 * not TF's, the distributions are), so tests compare against tfjs given the *same* weights.
 * Spec: https://keras.io/api/layers/initializers/
 */
import { RosettaError } from '../ir/errors.js';
import { Tensor, checkedSize } from '../ir/tensor.js';
import { seededRandom } from '../runtime/session.js';

/** An initializer as Keras serialises it: `{class_name, config}` or a string shorthand. */
export type InitializerSpec = string | { class_name: string; config?: Record<string, unknown> };

/** A seeded source of uniform [0, 1) and standard normal numbers. */
export class RandomSource {
  private readonly u: () => number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.u = seededRandom(seed);
  }

  uniform(): number {
    return this.u();
  }

  /** Box–Muller, keeping the second value. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u1 = this.u();
    while (u1 <= 0) u1 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    const th = 2 * Math.PI * this.u();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** Normal redrawn until within two standard deviations (tf.random.truncated_normal). */
  truncatedNormal(): number {
    for (;;) {
      const x = this.normal();
      if (Math.abs(x) <= 2) return x;
    }
  }
}

/** Keras `compute_fans`. */
export function computeFans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const receptive = shape.slice(0, -2).reduce((a, d) => a * d, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/** snake_case / CamelCase Keras initializer names to one canonical key. */
const ALIASES: Record<string, string> = {
  glorotuniform: 'glorot_uniform',
  glorotnormal: 'glorot_normal',
  heuniform: 'he_uniform',
  henormal: 'he_normal',
  lecununiform: 'lecun_uniform',
  lecunnormal: 'lecun_normal',
  zeros: 'zeros',
  zero: 'zeros',
  ones: 'ones',
  one: 'ones',
  constant: 'constant',
  randomuniform: 'random_uniform',
  uniform: 'random_uniform',
  randomnormal: 'random_normal',
  normal: 'random_normal',
  truncatednormal: 'truncated_normal',
  orthogonal: 'orthogonal',
  identity: 'identity',
  variancescaling: 'variance_scaling',
};

function canonical(name: string): string {
  const key = name.replace(/_/g, '').toLowerCase();
  const c = ALIASES[key];
  if (!c) throw new RosettaError('E_UNSUPPORTED', `unknown initializer '${name}'`, { hint: `use one of: ${[...new Set(Object.values(ALIASES))].join(', ')}` });
  return c;
}

/** Serialised form Keras 2 writes for an initializer name (`glorot_uniform` → GlorotUniform). */
export function serializeInitializer(spec: InitializerSpec): { class_name: string; config: Record<string, unknown> } {
  if (typeof spec !== 'string') return { class_name: spec.class_name, config: { ...(spec.config ?? {}) } };
  const c = canonical(spec);
  const cls = c === 'zeros' ? 'Zeros' : c === 'ones' ? 'Ones' : c.split('_').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  const config: Record<string, unknown> = cls === 'Zeros' || cls === 'Ones' ? {} : { seed: null };
  if (c === 'random_uniform') Object.assign(config, { minval: -0.05, maxval: 0.05 });
  if (c === 'random_normal' || c === 'truncated_normal') Object.assign(config, { mean: 0, stddev: 0.05 });
  if (c === 'orthogonal') config.gain = 1;
  if (c === 'constant') config.value = 0;
  return { class_name: cls, config };
}

function numField(cfg: Record<string, unknown>, key: string, def: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RosettaError('E_INVALID_ATTR', `initializer '${key}' should be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Fill a new float32 tensor of `shape` as the initializer `spec` says. */
export function initialize(spec: InitializerSpec, shape: readonly number[], rng: RandomSource): Tensor {
  const cls = typeof spec === 'string' ? spec : spec.class_name;
  const cfg = typeof spec === 'string' ? {} : (spec.config ?? {});
  const n = checkedSize(shape, `initializer ${cls}`);
  const out = new Float32Array(n);
  const c = canonical(cls);
  const [fanIn, fanOut] = computeFans(shape);
  const scaled = (scale: number, mode: string, dist: string): void => {
    const fan = mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2;
    const s = scale / Math.max(1, fan);
    if (dist === 'uniform') {
      const lim = Math.sqrt(3 * s);
      for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * lim;
    } else if (dist === 'untruncated_normal') {
      const sd = Math.sqrt(s);
      for (let i = 0; i < n; i++) out[i] = rng.normal() * sd;
    } else {
      // 0.87962566103423978: stddev of a unit normal truncated to (-2, 2).
      const sd = Math.sqrt(s) / 0.8796256610342398;
      for (let i = 0; i < n; i++) out[i] = rng.truncatedNormal() * sd;
    }
  };
  switch (c) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(numField(cfg, 'value', 0));
      break;
    case 'glorot_uniform':
      scaled(1, 'fan_avg', 'uniform');
      break;
    case 'glorot_normal':
      scaled(1, 'fan_avg', 'truncated_normal');
      break;
    case 'he_uniform':
      scaled(2, 'fan_in', 'uniform');
      break;
    case 'he_normal':
      scaled(2, 'fan_in', 'truncated_normal');
      break;
    case 'lecun_uniform':
      scaled(1, 'fan_in', 'uniform');
      break;
    case 'lecun_normal':
      scaled(1, 'fan_in', 'truncated_normal');
      break;
    case 'variance_scaling':
      scaled(numField(cfg, 'scale', 1), String(cfg.mode ?? 'fan_in'), String(cfg.distribution ?? 'truncated_normal'));
      break;
    case 'random_uniform': {
      const lo = numField(cfg, 'minval', -0.05);
      const hi = numField(cfg, 'maxval', 0.05);
      for (let i = 0; i < n; i++) out[i] = lo + rng.uniform() * (hi - lo);
      break;
    }
    case 'random_normal': {
      const m = numField(cfg, 'mean', 0);
      const sd = numField(cfg, 'stddev', 0.05);
      for (let i = 0; i < n; i++) out[i] = m + rng.normal() * sd;
      break;
    }
    case 'truncated_normal': {
      const m = numField(cfg, 'mean', 0);
      const sd = numField(cfg, 'stddev', 0.05);
      for (let i = 0; i < n; i++) out[i] = m + rng.truncatedNormal() * sd;
      break;
    }
    case 'identity': {
      if (shape.length !== 2) throw new RosettaError('E_INVALID_ATTR', `the identity initializer needs a 2-D shape, got [${shape.join(', ')}]`);
      const gain = numField(cfg, 'gain', 1);
      for (let i = 0; i < Math.min(shape[0]!, shape[1]!); i++) out[i * shape[1]! + i] = gain;
      break;
    }
    case 'orthogonal':
      orthogonal(out, shape, numField(cfg, 'gain', 1), rng);
      break;
  }
  return new Tensor('float32', shape.slice(), out);
}

/**
 * Keras Orthogonal: rows = prod(shape[:-1]), cols = shape[-1]; QR of a normal (max × min) matrix
 * by modified Gram–Schmidt (float64), columns multiplied by sign(diag(R)), transposed when
 * rows < cols so the result has orthonormal rows.
 */
function orthogonal(out: Float32Array, shape: readonly number[], gain: number, rng: RandomSource): void {
  if (shape.length < 2) throw new RosettaError('E_INVALID_ATTR', `the orthogonal initializer needs at least 2 dimensions, got [${shape.join(', ')}]`);
  const cols = shape[shape.length - 1]!;
  const rows = out.length / Math.max(1, cols);
  const m = Math.max(rows, cols);
  const k = Math.min(rows, cols);
  // a: m × k, column-major for Gram–Schmidt.
  const q = new Float64Array(m * k);
  for (let i = 0; i < m * k; i++) q[i] = rng.normal();
  for (let j = 0; j < k; j++) {
    const cj = q.subarray(j * m, (j + 1) * m);
    for (let p = 0; p < j; p++) {
      const cp = q.subarray(p * m, (p + 1) * m);
      let dot = 0;
      for (let i = 0; i < m; i++) dot += cp[i]! * cj[i]!;
      for (let i = 0; i < m; i++) cj[i] = cj[i]! - dot * cp[i]!;
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += cj[i]! * cj[i]!;
    // R's diagonal is the norm (positive), so Gram–Schmidt's Q already has Keras' sign convention.
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < m; i++) cj[i] = cj[i]! / norm;
  }
  // q is m × k column-major: element (i, j) at j*m + i.
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = rows >= cols ? q[c * m + r]! : q[r * m + c]!;
      out[r * cols + c] = gain * v;
    }
  }
}
