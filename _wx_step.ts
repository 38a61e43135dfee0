import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
const r = await loadWasm({ threads: Number(process.argv[2] ?? 2) });
console.log(r);
await tf.setBackend('wasm');
console.log(tf.getBackend());
// tiny training step: conv s1, conv s2 + bn (moments) + relu + maxpool + dense + softmax CE + gather
const x = tf.randomNormal([2, 9, 9, 3]);
const w1 = tf.variable(tf.randomNormal([3, 3, 3, 4]));
const w2 = tf.variable(tf.randomNormal([3, 3, 4, 5]));
const w3 = tf.variable(tf.randomNormal([5, 6]));
const emb = tf.variable(tf.randomNormal([10, 3]));
const f = () => {
  let h = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
  const m = tf.moments(h, [0, 1, 2]);
  h = tf.relu(tf.div(tf.sub(h, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))));
  h = tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 2, 'same');
  h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'same');
  const p = tf.mean(h, [1, 2]);
  const logits = tf.matMul(p, w3);
  const e = tf.gather(emb, tf.tensor1d([1, 3], 'int32'));
  return tf.add(tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([1, 2], 'int32'), 6), logits), tf.sum(tf.mul(e, e))) as tf.Scalar;
};
const { value, grads } = tf.variableGrads(f);
console.log('loss', value.dataSync()[0], Object.keys(grads));
