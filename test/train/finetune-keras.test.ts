/**
 * Fine-tuning models loaded from the third-party corpus (Keras files written by real Keras, see
 * ../shared/corpus/README.md): each imports through the Keras importer, becomes a GraphModule
 * (trainable flags from the Keras weights, BatchNorm moving statistics as buffers updated with
 * batch statistics in training mode) and a few Adam
 * steps on a fixed batch toward fixed random targets make the MSE loss fall.
 */
import { describe, expect, it } from 'vitest';
import { kerasH5Importer } from '../../src/importers/keras/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import * as nn from '../../src/nn/index.js';
import { seededRandom } from '../../src/runtime/session.js';
import { HAS_CORPUS, readCorpus } from '../helpers/corpus.js';

const FILES = ['keras/cnn_batch_norm.h5', 'keras/simple_lstm_tf_keras_2_model.h5', 'keras/conv1d_k3_s2_d1_cl_same_model.h5', 'keras/act_ELU_0_model.h5'];

describe.skipIf(!HAS_CORPUS)('Keras corpus models fine-tune (corpus present)', () => {
  for (const file of FILES) {
    it(file, async () => {
      const res = await kerasH5Importer.open({ name: file, bytes: readCorpus(...file.split('/')) });
      if (res.kind !== 'model') throw new Error('expected a full model');
      const gm = nn.GraphModule.fromModel(res.model);
      const rnd = seededRandom(3);
      const inputs = res.model.graph.inputs.filter((i) => !res.model.graph.initializers.has(i.name));
      const feeds = inputs.map((i) => {
        const shape = (i.type?.kind === 'tensor' ? i.type.shape ?? [] : []).map((d) => (typeof d === 'number' ? d : 4));
        return Tensor.from('float32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2 - 1));
      });
      gm.eval();
      const out0 = gm.callVar(...feeds);
      const target = Tensor.from('float32', out0.shape, Array.from({ length: out0.value.size }, () => rnd()));
      const opt = new nn.Adam(gm.parameters(), { lr: 0.01 });
      const crit = new nn.MSELoss();
      const losses: number[] = [];
      gm.train();
      for (let step = 0; step < 8; step++) {
        opt.zeroGrad();
        const loss = crit.callVar(gm.callVar(...feeds), target);
        await loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      expect(losses.at(-1)!, losses.map((l) => l.toFixed(4)).join(' ')).toBeLessThan(losses[0]!);
      // BatchNormalization trained with batch statistics updates its moving statistics (buffers).
      const buffers = gm.namedBuffers();
      if (file.includes('batch_norm')) {
        expect(buffers.length).toBeGreaterThan(0);
        const initial = res.model.graph.initializers.get(buffers[0]![0])!.toNumbers();
        expect(buffers[0]![1].data.toNumbers()).not.toEqual(initial);
        expect(gm.parameters().every((p) => !buffers.some(([, b]) => b === p))).toBe(true);
      }
    }, 60_000);
  }
});
