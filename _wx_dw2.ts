import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
const N = 256;
for (const [H, C] of [[32, 32], [8, 128]]) {
  const x = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const dy = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, C, C]) as tf.Tensor4D;
  const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]) as tf.Tensor4D;
  const Hp = H + 2;
  const chunked = (G: number) => () => tf.tidy(() => {
    const xg = tf.transpose(tf.reshape(xp, [G, N / G, Hp, Hp, C]), [0, 4, 2, 3, 1]); // [G, C, Hp, Wp, n]
    const dg = tf.transpose(tf.reshape(dy, [G, N / G, H, H, C]), [0, 2, 3, 1, 4]); // [G, OH, OW, n, Co]
    const parts = [];
    for (let g = 0; g < G; g++) {
      const xi = tf.reshape(tf.slice(xg, [g, 0, 0, 0, 0], [1, C, Hp, Hp, N / G]), [C, Hp, Hp, N / G]) as tf.Tensor4D;
      const di = tf.reshape(tf.slice(dg, [g, 0, 0, 0, 0], [1, H, H, N / G, C]), [H, H, N / G, C]) as tf.Tensor4D;
      parts.push(tf.conv2d(xi, di, 1, 'valid'));
    }
    return tf.transpose(parts.length > 1 ? tf.addN(parts) : parts[0], [1, 2, 0, 3]);
  });
  const fns: Record<string, () => tf.Tensor> = { fwd: () => tf.conv2d(x, w, 1, 'same') };
  for (const G of [1, 2, 4, 8, 16]) fns[`G${G}`] = chunked(G);
  const ref = fns.G1();
  for (const G of [2, 8]) { const o = fns[`G${G}`](); console.log('diff', G, tf.max(tf.abs(tf.sub(o, ref))).dataSync()[0]); o.dispose(); }
  const tot: Record<string, number> = {};
  for (let r = 0; r < 3; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
  console.log(H, C, Object.entries(tot).map(([kk, v]) => `${kk}=${(v/2).toFixed(0)}`).join(' '));
}
