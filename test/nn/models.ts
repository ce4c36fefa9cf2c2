/**
 * The fixture models written with src/nn exactly as fixtures/pytorch/make_fixtures.py writes them
 * with torch.nn, so state-dict keys match and outputs can be compared.
 */
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import type { Var } from '../../src/nn/index.js';

/** The seed program's CNN. */
export class ImageClassifier extends nn.Module {
  features = new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  );
  classifier = new nn.Sequential(
    new nn.Flatten(), new nn.Linear(3136, 128), new nn.ReLU(), new nn.Dropout(0.5), new nn.Linear(128, 10),
  );

  forward(x: Var): Var {
    return this.classifier.callVar(this.features.callVar(x));
  }
}

/** The seed program's house-price model. */
export class SimpleLinearModel extends nn.Module {
  linear = new nn.Linear(1, 1);

  forward(x: Var): Var {
    return this.linear.callVar(x);
  }
}

export class ConvBN extends nn.Module {
  conv = new nn.Conv2d(3, 8, 3, { padding: 1, bias: false });
  bn = new nn.BatchNorm2d(8, { momentum: 0.2 });
  pool = new nn.MaxPool2d(2);
  fc = new nn.Linear(8 * 4 * 4, 5);

  forward(x: Var): Var {
    const h = this.pool.callVar(nn.F.relu(this.bn.callVar(this.conv.callVar(x))));
    return this.fc.callVar(nn.F.flatten(h, 1));
  }
}

export class RnnModel extends nn.Module {
  emb = new nn.Embedding(20, 8);
  lstm = new nn.LSTM(8, 6, { batchFirst: true, bidirectional: true });
  gru = new nn.GRU(12, 5, { numLayers: 2, batchFirst: true });
  norm = new nn.LayerNorm(5);
  head = new nn.Linear(5, 3);

  forward(tokens: Var): Var {
    const [h1] = this.lstm.call(this.emb.callVar(tokens)) as [Var, unknown];
    const [h2] = this.gru.call(h1) as [Var, unknown];
    return this.head.callVar(this.norm.callVar(h2.select(1, -1)));
  }
}

export class ConvZoo extends nn.Module {
  c1 = new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 2 });
  c2 = new nn.Conv2d(2, 4, 3, { padding: 'same' });
  c3 = new nn.Conv2d(4, 4, 2, { stride: 2, groups: 4, bias: false });
  ct = new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 });
  avg = new nn.AvgPool2d(2);
  ada = new nn.AdaptiveAvgPool2d([2, 2]);
  gn = new nn.GroupNorm(2, 6);

  forward(x1: Var, x2: Var): [Var, Var] {
    const a = this.c1.callVar(x1);
    let b = this.c3.callVar(this.c2.callVar(x2));
    b = this.gn.callVar(this.ct.callVar(b));
    return [a, this.ada.callVar(this.avg.callVar(b))];
  }
}

export class ActZoo extends nn.Module {
  fc = new nn.Linear(6, 8);
  bn = new nn.BatchNorm1d(8);
  acts = new nn.ModuleList([new nn.ReLU(), new nn.ReLU6(), new nn.LeakyReLU(0.1), new nn.GELU(), new nn.SiLU(), new nn.Sigmoid(), new nn.Tanh(), new nn.Identity()]);
  soft = new nn.Softmax(1);

  forward(x: Var): [Var, Var] {
    const h = this.bn.callVar(this.fc.callVar(x)).mul(3);
    const outs = [...this.acts].map((act) => act.callVar(h));
    return [nn.cat(outs, 1), this.soft.callVar(h)];
  }
}

export class AttnModel extends nn.Module {
  attn = new nn.MultiheadAttention(8, 2, { batchFirst: true });
  norm = new nn.LayerNorm(8);

  forward(x: Var): [Var, Var] {
    const [y, w] = this.attn.call(x, x, x) as [Var, Var];
    return [this.norm.callVar(x.add(y)), w];
  }
}

export class SeqZoo extends nn.Module {
  emb = new nn.Embedding(10, 4, { paddingIdx: 0 });
  lstm = new nn.LSTM(4, 3, { numLayers: 2, bidirectional: true });
  gru = new nn.GRU(6, 4, { batchFirst: true, bidirectional: true });
  attn = new nn.MultiheadAttention(8, 4);
  conv = new nn.Conv1d(8, 5, 4, { padding: 'same', dilation: 2, bias: false });
  bn = new nn.BatchNorm1d(5, { momentum: null });
  act = new nn.GELU('tanh');

  forward(tokens: Var, h0: Var, c0: Var): Var[] {
    const e = this.emb.callVar(tokens);
    const [h, [hn, cn]] = this.lstm.call(e, h0, c0) as [Var, [Var, Var]];
    const [g, gn] = this.gru.call(h.transpose(0, 1)) as [Var, Var];
    const gt = g.transpose(0, 1);
    const [a, w] = this.attn.call(gt, gt, gt) as [Var, Var];
    const c = this.act.callVar(this.bn.callVar(this.conv.callVar(a.permute(1, 2, 0))));
    return [c, hn, cn, gn, w];
  }
}

export class MaskedAttn extends nn.Module {
  attn = new nn.MultiheadAttention(6, 3, { batchFirst: true });

  forward(q: Var, kv: Var, pad: Var): Var[] {
    const [L, S] = [q.shape[1]!, kv.shape[1]!];
    const causal = Array.from({ length: L * S }, (_, i) => (i % S > Math.floor(i / S) ? -Infinity : 0));
    const mask = q.trace.constant(Tensor.from('float32', [L, S], causal), 'causal');
    return this.attn.call(q, kv, kv, pad, mask) as Var[];
  }
}

export class PoolZoo extends nn.Module {
  conv = new nn.Conv2d(3, 4, 1);
  mp = new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true });
  ap1 = new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false });
  ap2 = new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: true });
  ap3 = new nn.AvgPool2d(2, { ceilMode: true });
  gap = new nn.AdaptiveAvgPool2d(1);

  forward(x: Var): Var[] {
    const h = this.conv.callVar(x);
    return [this.mp, this.ap1, this.ap2, this.ap3, this.gap].map((m) => m.callVar(h));
  }
}
