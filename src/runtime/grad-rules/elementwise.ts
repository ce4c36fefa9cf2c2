/**
 * Gradient rules for elementwise ONNX ops (with numpy broadcasting: each input's gradient is
 * summed back to its own shape), activations, Softmax/LogSoftmax and reductions.
 * Every rule is written in IR ops so the backward graph runs on any backend.
 * Spec for each forward op: https://onnx.ai/onnx/operators/
 */
import type { AttrReader } from '../../ir/attrs.js';
import { RosettaError } from '../../ir/errors.js';
import type { Node } from '../../ir/graph.js';
import { onnxCode, type IrBuilder } from './builder.js';

/** Inputs' gradients (undefined = no gradient) from the outputs' gradients. */
export type GradRule = (b: IrBuilder, node: Node, gys: readonly (string | undefined)[], attrs: AttrReader) => (string | undefined)[];

/** Helper: rule for a unary op whose derivative is `d(x, y)` (an IR value of x's shape). */
function unary(d: (b: IrBuilder, x: string, y: string, attrs: AttrReader) => string): GradRule {
  return (b, node, gys, attrs) => {
    const g = gys[0];
    if (!g) return [undefined];
    return [b.mul(g, d(b, node.inputs[0]!, node.outputs[0]!, attrs))];
  };
}

function binaryShapes(b: IrBuilder, node: Node): { y: readonly number[]; a: readonly number[]; c: readonly number[] } {
  return { y: b.shape(node.outputs[0]!), a: b.shape(node.inputs[0]!), c: b.shape(node.inputs[1]!) };
}

const SQRT_2_OVER_PI_TIMES_2 = 2 / Math.sqrt(Math.PI);

export const elementwiseRules: Record<string, GradRule> = {
  Identity: (_b, _n, [g]) => [g],
  Add: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    return [b.sumTo(g, s.y, s.a), b.sumTo(g, s.y, s.c)];
  },
  Sub: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    return [b.sumTo(g, s.y, s.a), b.sumTo(b.neg(g), s.y, s.c)];
  },
  Mul: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    return [b.sumTo(b.mul(g, n.inputs[1]!), s.y, s.a), b.sumTo(b.mul(g, n.inputs[0]!), s.y, s.c)];
  },
  Div: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    const ga = b.div(g, n.inputs[1]!);
    // d(a/c)/dc = -y/c
    const gc = b.neg(b.mul(ga, n.outputs[0]!));
    return [b.sumTo(ga, s.y, s.a), b.sumTo(gc, s.y, s.c)];
  },
  Pow: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    const [x, e] = [n.inputs[0]!, n.inputs[1]!];
    // d/dx x^e = e * x^(e-1); d/de x^e = y * ln(x)
    const ga = b.mul(g, b.mul(e, b.op('Pow', [x, b.sub(e, b.scalar(1, b.dtypeOf(e)))])));
    const ge = b.mul(g, b.mul(n.outputs[0]!, b.op('Log', [x])));
    return [b.sumTo(ga, s.y, s.a), b.sumTo(ge, s.y, s.c)];
  },
  // y = a − b·q with q = trunc(a/b) (fmod=1) or floor(a/b): ∂y/∂a = 1, ∂y/∂b = −q (q is piecewise constant).
  Mod: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    const s = binaryShapes(b, n);
    const ratio = b.div(n.inputs[0]!, n.inputs[1]!);
    const q = a.int('fmod', 0) ? b.mul(b.op('Sign', [ratio]), b.op('Floor', [b.op('Abs', [ratio])])) : b.op('Floor', [ratio]);
    return [b.sumTo(g, s.y, s.a), b.sumTo(b.neg(b.mul(g, q)), s.y, s.c)];
  },
  Max: minMax,
  Min: minMax,
  Sum: (b, n, [g]) => n.inputs.map((x) => (g ? b.sumTo(g, b.shape(n.outputs[0]!), b.shape(x)) : undefined)),
  Mean: (b, n, [g]) => {
    if (!g) return n.inputs.map(() => undefined);
    const gs = b.mul(g, b.scalar(1 / n.inputs.length));
    return n.inputs.map((x) => b.sumTo(gs, b.shape(n.outputs[0]!), b.shape(x)));
  },
  Where: (b, n, [g]) => {
    if (!g) return [undefined, undefined, undefined];
    const y = b.shape(n.outputs[0]!);
    const z = b.zeros([]);
    const [c, x1, x2] = n.inputs as [string, string, string];
    return [undefined, b.sumTo(b.op('Where', [c, g, z]), y, b.shape(x1)), b.sumTo(b.op('Where', [c, z, g]), y, b.shape(x2))];
  },
  Neg: (b, _n, [g]) => [g ? b.neg(g) : undefined],
  Abs: unary((b, x) => b.op('Sign', [x])),
  Exp: unary((_b, _x, y) => y),
  Log: unary((b, x) => b.op('Reciprocal', [x])),
  Sqrt: unary((b, _x, y) => b.div(b.scalar(0.5), y)),
  Reciprocal: unary((b, _x, y) => b.neg(b.mul(y, y))),
  Sin: unary((b, x) => b.op('Cos', [x])),
  Cos: unary((b, x) => b.neg(b.op('Sin', [x]))),
  Tan: unary((b, _x, y) => b.add(b.scalar(1), b.mul(y, y))),
  Sinh: unary((b, x) => b.op('Cosh', [x])),
  Cosh: unary((b, x) => b.op('Sinh', [x])),
  Asin: unary((b, x) => b.op('Reciprocal', [b.op('Sqrt', [b.sub(b.scalar(1), b.mul(x, x))])])),
  Acos: unary((b, x) => b.neg(b.op('Reciprocal', [b.op('Sqrt', [b.sub(b.scalar(1), b.mul(x, x))])]))),
  Atan: unary((b, x) => b.op('Reciprocal', [b.add(b.scalar(1), b.mul(x, x))])),
  Asinh: unary((b, x) => b.op('Reciprocal', [b.op('Sqrt', [b.add(b.mul(x, x), b.scalar(1))])])),
  Acosh: unary((b, x) => b.op('Reciprocal', [b.op('Sqrt', [b.sub(b.mul(x, x), b.scalar(1))])])),
  Atanh: unary((b, x) => b.op('Reciprocal', [b.sub(b.scalar(1), b.mul(x, x))])),
  Erf: unary((b, x) => b.mul(b.scalar(SQRT_2_OVER_PI_TIMES_2), b.op('Exp', [b.neg(b.mul(x, x))]))),
  // One Where instead of mask-and-multiply: Relu sits after every layer, so its rule is hot.
  Relu: (b, n, [g]) => [g ? b.op('Where', [b.op('Greater', [n.outputs[0]!, b.scalar(0)]), g, b.scalar(0)]) : undefined],
  LeakyRelu: unary((b, x, _y, a) => {
    const alpha = a.float('alpha', 0.01);
    return b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(1), b.scalar(alpha)]);
  }),
  Elu: unary((b, x, y, a) => {
    const alpha = a.float('alpha', 1);
    // x > 0: 1, else y + alpha
    return b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(1), b.add(y, b.scalar(alpha))]);
  }),
  Selu: unary((b, x, y, a) => {
    const alpha = a.float('alpha', 1.67326319217681884765625);
    const gamma = a.float('gamma', 1.05070102214813232421875);
    return b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(gamma), b.add(y, b.scalar(gamma * alpha))]);
  }),
  Sigmoid: unary((b, _x, y) => b.mul(y, b.sub(b.scalar(1), y))),
  Tanh: unary((b, _x, y) => b.sub(b.scalar(1), b.mul(y, y))),
  Softplus: unary((b, x) => b.op('Sigmoid', [x])),
  Softsign: unary((b, x) => {
    const d = b.add(b.scalar(1), b.op('Abs', [x]));
    return b.op('Reciprocal', [b.mul(d, d)]);
  }),
  HardSigmoid: unary((b, x, _y, a) => {
    const alpha = a.float('alpha', 0.2);
    const beta = a.float('beta', 0.5);
    const t = b.add(b.mul(x, b.scalar(alpha)), b.scalar(beta));
    const inside = b.op('And', [b.op('Greater', [t, b.scalar(0)]), b.op('Less', [t, b.scalar(1)])]);
    return b.mul(b.mask(inside), b.scalar(alpha));
  }),
  HardSwish: unary((b, x) => {
    // y = x * clip(x/6 + 1/2, 0, 1); dy/dx = 0 (x<-3), x/3 + 1/2 (|x|<=3), 1 (x>3)
    const mid = b.add(b.div(x, b.scalar(3)), b.scalar(0.5));
    const lo = b.op('Less', [x, b.scalar(-3)]);
    const hi = b.op('Greater', [x, b.scalar(3)]);
    return b.op('Where', [lo, b.scalar(0), b.op('Where', [hi, b.scalar(1), mid])]);
  }),
  PRelu: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const [x, slope] = [n.inputs[0]!, n.inputs[1]!];
    const ys = b.shape(n.outputs[0]!);
    const pos = b.op('Greater', [x, b.scalar(0)]);
    const gx = b.mul(g, b.op('Where', [pos, b.scalar(1), slope]));
    const gs = b.mul(g, b.op('Where', [pos, b.scalar(0), x]));
    return [b.sumTo(gx, ys, b.shape(x)), b.sumTo(gs, ys, b.shape(slope))];
  },
  Celu: unary((b, x, _y, a) => {
    const alpha = a.float('alpha', 1);
    return b.op('Where', [b.op('Greater', [x, b.scalar(0)]), b.scalar(1), b.op('Exp', [b.div(x, b.scalar(alpha))])]);
  }),
  ThresholdedRelu: unary((b, x, _y, a) => b.mask(b.op('Greater', [x, b.scalar(a.float('alpha', 1))]))),
  Shrink: unary((b, x, _y, a) => b.mask(b.op('Greater', [b.op('Abs', [x]), b.scalar(a.float('lambd', 0.5))]))),
  Mish: unary((b, x) => {
    // y = x·tanh(softplus(x)); y' = tanh(sp) + x·σ(x)·(1 − tanh(sp)²)
    const t = b.op('Tanh', [b.op('Softplus', [x])]);
    return b.add(t, b.mul(b.mul(x, b.op('Sigmoid', [x])), b.sub(b.scalar(1), b.mul(t, t))));
  }),
  Gelu: unary((b, x, _y, a) => {
    if (a.string('approximate', 'none') === 'tanh') {
      // u = √(2/π)(x + 0.044715x³); y' = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
      const k = Math.sqrt(2 / Math.PI);
      const x2 = b.mul(x, x);
      const t = b.op('Tanh', [b.mul(b.scalar(k), b.add(x, b.mul(b.scalar(0.044715), b.mul(x2, x))))]);
      const du = b.mul(b.scalar(k), b.add(b.scalar(1), b.mul(b.scalar(3 * 0.044715), x2)));
      const left = b.mul(b.scalar(0.5), b.add(b.scalar(1), t));
      return b.add(left, b.mul(b.mul(b.scalar(0.5), x), b.mul(b.sub(b.scalar(1), b.mul(t, t)), du)));
    }
    // Φ(x) + x·φ(x)
    const cdf = b.mul(b.scalar(0.5), b.add(b.scalar(1), b.op('Erf', [b.mul(x, b.scalar(Math.SQRT1_2))])));
    const pdf = b.mul(b.scalar(1 / Math.sqrt(2 * Math.PI)), b.op('Exp', [b.mul(b.scalar(-0.5), b.mul(x, x))]));
    return b.add(cdf, b.mul(x, pdf));
  }),
  // Piecewise-constant ops: zero gradient almost everywhere (PyTorch returns zeros too).
  Round: (_b, n) => n.inputs.map(() => undefined),
  Floor: (_b, n) => n.inputs.map(() => undefined),
  Ceil: (_b, n) => n.inputs.map(() => undefined),
  Sign: (_b, n) => n.inputs.map(() => undefined),
  CumSum: (b, n, [g], a) => {
    if (!g) return [undefined, undefined];
    // Each input element feeds the outputs after it (or before it, reversed): the adjoint scan.
    return [b.op('CumSum', [g, n.inputs[1]!], { exclusive: { type: 'int', value: a.int('exclusive', 0) }, reverse: { type: 'int', value: a.int('reverse', 0) ? 0 : 1 } }), undefined];
  },
  Clip: (b, n, [g]) => {
    if (!g) return [undefined];
    const x = n.inputs[0]!;
    let m: string | undefined;
    const and = (c: string): string => (m = m ? b.op('And', [m, c]) : c);
    if (n.inputs[1]) and(b.op('GreaterOrEqual', [x, n.inputs[1]]));
    if (n.inputs[2]) and(b.op('LessOrEqual', [x, n.inputs[2]]));
    return [m ? b.mul(g, b.mask(m)) : g];
  },
  Cast: (b, n, [g]) => {
    if (!g) return [undefined];
    const from = b.dtypeOf(n.inputs[0]!);
    if (from !== 'float32' && from !== 'float64' && from !== 'float16' && from !== 'bfloat16') return [undefined];
    return [from === b.dtypeOf(n.outputs[0]!) ? g : b.op('Cast', [g], { to: { type: 'int', value: onnxCode(from) } })];
  },
  // CastLike (the ONNX importer emits it when normalising old opsets): like Cast, back to x's type.
  CastLike: (b, n, [g]) => {
    if (!g) return [undefined, undefined];
    const from = b.dtypeOf(n.inputs[0]!);
    if (from !== 'float32' && from !== 'float64' && from !== 'float16' && from !== 'bfloat16') return [undefined, undefined];
    return [from === b.dtypeOf(n.outputs[0]!) ? g : b.op('Cast', [g], { to: { type: 'int', value: onnxCode(from) } }), undefined];
  },
  Softmax: (b, n, [g], a) => {
    if (!g) return [undefined];
    const y = n.outputs[0]!;
    const axis = normAxis(a.int('axis', -1), b.shape(y).length);
    const gy = b.mul(g, y);
    return [b.sub(gy, b.mul(y, b.reduceSum(gy, [axis], true)))];
  },
  LogSoftmax: (b, n, [g], a) => {
    if (!g) return [undefined];
    const y = n.outputs[0]!;
    const axis = normAxis(a.int('axis', -1), b.shape(y).length);
    return [b.sub(g, b.mul(b.op('Exp', [y]), b.reduceSum(g, [axis], true)))];
  },
  ReduceSum: reduceRule('sum'),
  ReduceMean: reduceRule('mean'),
  ReduceSumSquare: reduceRule('sumsq'),
  ReduceMax: reduceRule('max'),
  ReduceMin: reduceRule('max'),
  ReduceL2: reduceRule('l2'),
  ReduceL1: reduceRule('l1'),
  ReduceLogSum: reduceRule('logsum'),
  ReduceLogSumExp: reduceRule('logsumexp'),
  ReduceProd: reduceRule('prod'),
};

function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

function minMax(b: IrBuilder, n: Node, gys: readonly (string | undefined)[]): (string | undefined)[] {
    const g = gys[0];
    if (!g) return n.inputs.map(() => undefined);
    if (n.inputs.length !== 2) throw new RosettaError('E_UNSUPPORTED_OP', `autograd: ${n.opType} with ${n.inputs.length} inputs`, { where: { node: n.name } });
    const s = binaryShapes(b, n);
    const a = n.inputs[0]!;
    const y = n.outputs[0]!;
    // Where both inputs are the extreme, the first input takes the whole gradient: one owner
    // keeps the sum of the two gradients equal to g.
    const first = b.mul(g, b.mask(b.op('Equal', [a, y])));
    return [b.sumTo(first, s.y, s.a), b.sumTo(b.sub(g, first), s.y, s.c)];
}

/** Reduction axes of a Reduce* node in latest form (axes as input 1), normalised. */
export function reduceAxes(b: IrBuilder, n: Node, attrs: AttrReader, axesValue: number[] | undefined): number[] {
  const rank = b.shape(n.inputs[0]!).length;
  const noop = attrs.int('noop_with_empty_axes', 0);
  let axes = axesValue ?? (attrs.has('axes') ? attrs.ints('axes') : []);
  if (axes.length === 0) axes = noop ? [] : Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normAxis(a, rank)).sort((x, y) => x - y);
}


function reduceRule(kind: 'sum' | 'mean' | 'sumsq' | 'max' | 'l2' | 'l1' | 'logsum' | 'logsumexp' | 'prod'): GradRule {
  return (b, n, [g], attrs) => {
    if (!g) return n.inputs.map(() => undefined);
    const x = n.inputs[0]!;
    const xs = b.shape(x);
    const axes = reduceAxes(b, n, attrs, n.inputs[1] ? b.intValues(n.inputs[1]) : undefined);
    const keep = xs.map((d, i) => (axes.includes(i) ? 1 : d));
    let gk = b.reshape(g, keep);
    const yk = b.reshape(n.outputs[0]!, keep);
    const ge = b.expand(gk, xs);
    const count = axes.reduce((p, a) => p * xs[a]!, 1);
    switch (kind) {
      case 'sum':
        return [ge];
      case 'mean':
        return [b.mul(ge, b.scalar(1 / count))];
      case 'sumsq':
        return [b.mul(ge, b.mul(x, b.scalar(2)))];
      case 'l2':
        return [b.mul(ge, b.div(x, yk))];
      case 'l1':
        return [b.mul(ge, b.op('Sign', [x]))];
      case 'logsum':
        return [b.div(ge, b.op('Exp', [yk]))];
      case 'logsumexp':
        return [b.mul(ge, b.op('Exp', [b.sub(x, yk)]))];
      case 'prod':
        // ∂/∂x_i Πx = Πx / x_i (inputs with zeros are not differentiated exactly here)
        return [b.mul(ge, b.div(yk, x))];
      case 'max': {
        // The gradient goes to every position equal to the extreme, split evenly (PyTorch's amax rule).
        const m = b.mask(b.op('Equal', [x, yk]));
        const cnt = b.reduceSum(m, axes, true);
        gk = b.div(gk, cnt);
        return [b.mul(b.expand(gk, xs), m)];
      }
    }
  };
}

