// Every native kernel against the TF.js cpu backend on random inputs: forward
// values and gradients, many shapes. Tolerance: max |native - cpu| <= TOL *
// max(1, max |cpu|) with TOL = 1e-4 (both are float32; they differ only in
// summation order, and the largest reduction here has under 2,000 terms).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeBackend } from '../src/backend/native.ts';
import { nativeForTests } from './native-required.ts';
import { nativeBatchNormTrain } from '../src/backend/native-ops.ts';
import { batchNormAct, batchNormTrainOp, BN_EPSILON, updateRunningStats, updateRunningStatsHost } from '../src/models/ops.ts';

const TOL = 1e-4;
const available = await nativeForTests(2);

type Tensors = tf.Tensor | tf.Tensor[];

/** Runs f on the cpu backend, then on native, and returns both results as flat arrays. */
async function onBoth(f: () => Tensors): Promise<[Float32Array[], Float32Array[]]> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const r = f();
      return (Array.isArray(r) ? r : [r]).map((t) => t.dataSync() as Float32Array).map((a) => Float32Array.from(a));
    });
  };
  return [await run('cpu'), await run('native')];
}

function expectClose(cpu: Float32Array[], nat: Float32Array[], tol = TOL): void {
  expect(nat.length).toBe(cpu.length);
  cpu.forEach((c, i) => {
    const n = nat[i];
    expect(n.length).toBe(c.length);
    let scale = 1, err = 0;
    for (let k = 0; k < c.length; k++) {
      if (Number.isNaN(c[k]) && Number.isNaN(n[k])) continue; // NaN must stay NaN
      scale = Math.max(scale, Math.abs(c[k]));
      const d = Math.abs(c[k] - n[k]);
      err = Math.max(err, Number.isNaN(d) ? Infinity : d);
    }
    expect(err, `output ${i}: max abs diff ${err} vs scale ${scale}`).toBeLessThanOrEqual(tol * scale);
  });
}

/** Fixed random tensors (seeded), created on whichever backend is active. */
const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Gradient of 'same' average pooling that excludes padding (TF semantics), by brute force. */
function avgPoolGradReference(dy: Float32Array, xShape: number[], win: number, stride: number): Float32Array {
  const [n, h, w, c] = xShape;
  const oh = Math.ceil(h / stride), ow = Math.ceil(w / stride);
  const top = Math.floor(Math.max(0, (oh - 1) * stride + win - h) / 2), left = Math.floor(Math.max(0, (ow - 1) * stride + win - w) / 2);
  const dx = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    const rows: number[] = [], cols: number[] = [];
    for (let di = 0; di < win; di++) { const y = i * stride - top + di; if (y >= 0 && y < h) rows.push(y); }
    for (let dj = 0; dj < win; dj++) { const x = j * stride - left + dj; if (x >= 0 && x < w) cols.push(x); }
    const count = rows.length * cols.length;
    for (const y of rows) for (const x of cols) for (let ch = 0; ch < c; ch++) {
      dx[((b * h + y) * w + x) * c + ch] += dy[((b * oh + i) * ow + j) * c + ch] / count;
    }
  }
  return dx;
}

function countsOf(kernel: string): number { return nativeBackend()?.counts.native.get(kernel) ?? 0; }

beforeAll(async () => { await tf.setBackend('cpu'); });
afterAll(async () => { await tf.setBackend('cpu'); });

describe.skipIf(!available)('native backend kernels vs cpu', () => {
  type ConvCase = { x: number[]; f: number[]; s: number | [number, number]; pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]; d?: number };
  const convCases: ConvCase[] = [
    { x: [1, 5, 5, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
    { x: [2, 7, 7, 3], f: [3, 3, 3, 5], s: 2, pad: 'same' },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'valid' },
    { x: [2, 6, 6, 4], f: [1, 1, 4, 8], s: 2, pad: 'valid' },
    { x: [3, 7, 5, 6], f: [1, 1, 6, 3], s: 1, pad: 'same' },
    { x: [2, 5, 6, 3], f: [2, 3, 3, 4], s: [1, 2], pad: 'same' },
    { x: [1, 6, 7, 2], f: [3, 3, 2, 3], s: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
    { x: [2, 9, 9, 16], f: [3, 3, 16, 16], s: 1, pad: 'same' },
  ];

  for (const c of convCases) {
    it(`conv2d x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} s${JSON.stringify(c.s)} ${JSON.stringify(c.pad)}: forward and both gradients`, async () => {
      const before = [countsOf('Conv2D'), countsOf('Conv2DBackpropInput'), countsOf('Conv2DBackpropFilter')];
      const [cpu, nat] = await onBoth(() => {
        const x = rnd(c.x, 1), w = rnd(c.f, 2);
        const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad);
        const y = conv(x, w);
        const r = rnd(y.shape, 3); // a non-uniform upstream gradient
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([x, w]);
        return [y, dx, dw];
      });
      expectClose(cpu, nat);
      expect([countsOf('Conv2D'), countsOf('Conv2DBackpropInput'), countsOf('Conv2DBackpropFilter')].map((v, i) => v - before[i]))
        .toEqual([2, 1, 1]);
    });
  }

  it('dilated conv2d forward', async () => {
    const [cpu, nat] = await onBoth(() => tf.conv2d(rnd([2, 9, 8, 3], 4) as tf.Tensor4D, rnd([3, 3, 3, 5], 5) as tf.Tensor4D, 1, 'same', 'NHWC', 2));
    expectClose(cpu, nat);
  });

  it('fused conv2d with bias and relu, forward and gradients', async () => {
    for (const activation of ['relu', 'linear'] as const) {
      const [cpu, nat] = await onBoth(() => {
        const x = rnd([2, 6, 6, 3], 6), w = rnd([3, 3, 3, 4], 7), b = rnd([4], 8);
        const f = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor) =>
          tf.fused.conv2d({ x: a as tf.Tensor4D, filter: k as tf.Tensor4D, strides: 1, pad: 'same', bias: bb, activation });
        const y = f(x, w, b);
        const r = rnd(y.shape, 9);
        return [y, ...tf.grads((a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(a, k, bb), r)))([x, w, b])];
      });
      expectClose(cpu, nat);
    }
  });

  it('matMul with every transpose, batched, broadcast (cpu fallback) and gradients', async () => {
    const [cpu, nat] = await onBoth(() => {
      const out: tf.Tensor[] = [];
      for (const ta of [false, true]) for (const tb of [false, true]) {
        const a = rnd(ta ? [5, 3] : [3, 5], 10), b = rnd(tb ? [4, 5] : [5, 4], 11);
        out.push(tf.matMul(a, b, ta, tb));
        out.push(...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, q, ta, tb))))([a, b]));
      }
      out.push(tf.matMul(rnd([2, 3, 5], 12), rnd([2, 5, 4], 13)));
      out.push(tf.matMul(rnd([2, 3, 5], 14), rnd([2, 4, 5], 15), false, true));
      out.push(tf.matMul(rnd([2, 3, 5], 16), rnd([1, 5, 4], 17))); // broadcast batch: cpu path
      out.push(tf.matMul(rnd([1, 7], 18), rnd([7, 1], 19))); // batch 1, 1x1 output
      return out;
    });
    expectClose(cpu, nat);
  });

  it('fused matMul with bias and relu, forward and gradients', async () => {
    const [cpu, nat] = await onBoth(() => {
      const a = rnd([6, 5], 20), b = rnd([5, 4], 21), bias = rnd([4], 22);
      const f = (p: tf.Tensor, q: tf.Tensor, bb: tf.Tensor) => tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias: bb, activation: 'relu' });
      return [f(a, b, bias), ...tf.grads((p: tf.Tensor, q: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(p, q, bb), rnd([6, 4], 23))))([a, b, bias])];
    });
    expectClose(cpu, nat);
  });

  it('elementwise add, mul, sub, relu (with NaN), step and relu gradient', async () => {
    const fused = nativeBackend()!.counts.native.get('SelfsupReluGrad') ?? 0;
    const [cpu, nat] = await onBoth(() => {
      const a = rnd([3, 17, 13, 11], 30), b = rnd([3, 17, 13, 11], 31);
      const withNaN = tf.where(tf.greater(a, 2.5), tf.fill(a.shape, NaN), a);
      const dr = tf.grads((p: tf.Tensor) => tf.sum(tf.mul(tf.relu(p), b)))([a])[0];
      const drNaN = tf.grad((p: tf.Tensor) => tf.relu(p))(withNaN, b); // Relu's gradient, fused on native
      return [tf.add(a, b), tf.mul(a, b), tf.sub(a, b), tf.relu(withNaN), tf.step(withNaN), tf.step(a, 0.25), dr, drNaN];
    });
    expectClose(cpu, nat);
    expect(nativeBackend()!.counts.native.get('SelfsupReluGrad')).toBe(fused + 2);
  });

  it('clipByValue: same bits as cpu, with NaN, bounds exact and inexact in float32', async () => {
    const before = nativeBackend()!.counts.native.get('ClipByValue') ?? 0;
    const [cpu, nat] = await onBoth(() => {
      const a = rnd([3, 17, 13, 11], 41);
      const withNaN = tf.where(tf.greater(a, 2.5), tf.fill(a.shape, NaN), a);
      // 0.1 and 0.7 are not float32 values: values next to them decide the comparison.
      const near = tf.add(tf.mul(tf.floor(tf.mul(a, 4)), 0.1), tf.fill(a.shape, Math.fround(0.1)));
      return [tf.clipByValue(withNaN, 0, 1), tf.clipByValue(a, -0.5, 0.25), tf.clipByValue(near, 0.1, 0.7), tf.clipByValue(a, -1e-40, 1e-40)];
    });
    cpu.forEach((c, i) => expect(nat[i]).toEqual(c));
    expect(nativeBackend()!.counts.native.get('ClipByValue')).toBe(before + 4);
  });

  it('exp: within a float32 ulp of cpu, including overflow, underflow and NaN', async () => {
    const before = nativeBackend()!.counts.native.get('Exp') ?? 0;
    const [cpu, nat] = await onBoth(() => {
      const a = tf.mul(rnd([96, 97], 44), 30);
      const withNaN = tf.where(tf.greater(a, 80), tf.fill(a.shape, NaN), a);
      return [tf.exp(withNaN), tf.exp(tf.mul(a, 4))];
    });
    for (let i = 0; i < cpu.length; i++) {
      let worst = 0;
      cpu[i].forEach((c, k) => {
        const n = nat[i][k];
        if (Number.isNaN(c) || !Number.isFinite(c) || c === 0) expect(Object.is(n, c), `${c} vs ${n}`).toBe(true);
        else worst = Math.max(worst, Math.abs(n - c) / Math.abs(c));
      });
      expect(worst).toBeLessThanOrEqual(2 ** -23);
    }
    expect(nativeBackend()!.counts.native.get('Exp')).toBe(before + 2);
  });

  it('cropAndResize (bilinear): same bits as cpu, with boxes outside the image, flipped, 1-pixel crops and a bad box index', async () => {
    const before = nativeBackend()!.counts.native.get('CropAndResize') ?? 0;
    const boxes = [[0.1, 0.2, 0.8, 0.9], [0.9, 0.7, 0.1, 0.05], [-0.3, -0.2, 1.4, 1.1], [0, 0, 1, 1], [0.33, 0.41, 0.34, 0.42], [0.2, 0.2, 0.6, 0.6], [NaN, 0.1, 0.5, 0.5], [0.1, NaN, 0.5, 0.5]];
    const [cpu, nat] = await onBoth(() => {
      const image = rnd([3, 19, 23, 3], 43);
      const b = tf.tensor2d(boxes), ind = tf.tensor1d([0, 2, 1, 0, 2, 7, 1, 0], 'int32'); // 7: no such image, left at zero
      return [
        tf.image.cropAndResize(image as tf.Tensor4D, b, ind, [32, 27], 'bilinear', -2),
        tf.image.cropAndResize(image as tf.Tensor4D, b, ind, [1, 1], 'bilinear', 0.5),
        tf.image.cropAndResize(image as tf.Tensor4D, b, ind, [9, 40], 'nearest'), // stays on the cpu kernel
      ];
    });
    cpu.forEach((c, i) => expect(nat[i]).toEqual(c));
    expect(nativeBackend()!.counts.native.get('CropAndResize')).toBe(before + 2);
    // A negative box index stays on the cpu kernel (no read before the image).
    const [cpuNeg, natNeg] = await onBoth(() => [tf.image.cropAndResize(rnd([2, 5, 5, 3], 45) as tf.Tensor4D, tf.tensor2d([[0, 0, 1, 1]]), tf.tensor1d([-1], 'int32'), [4, 4])]);
    expect(natNeg[0]).toEqual(cpuNeg[0]);
    expect(nativeBackend()!.counts.native.get('CropAndResize')).toBe(before + 2);
  });

  it('broadcasting add, mul, sub, div (row vectors, scalars, middle axes, both sides)', async () => {
    const [cpu, nat] = await onBoth(() => {
      const x = rnd([4, 9, 7, 32], 32), row = rnd([32], 33), col = rnd([4, 9, 7, 1], 34), mid = rnd([4, 1, 1, 32], 35);
      const pos = tf.add(tf.abs(rnd([32], 36)), 0.5), s = tf.scalar(1.7);
      return [tf.add(x, row), tf.sub(row, x), tf.mul(x, mid), tf.div(x, pos), tf.div(pos, tf.add(tf.abs(x), 1)), tf.sub(x, col),
        tf.mul(s, x), tf.sub(x, s), tf.add(rnd([4, 1, 7, 32], 37), rnd([9, 1, 1], 38)), tf.mul(rnd([64, 1], 39), rnd([1, 80], 40))];
    });
    expectClose(cpu, nat);
  });

  it('sum and mean over contiguous axes (and a non-contiguous cpu fallback)', async () => {
    const [cpu, nat] = await onBoth(() => {
      const x = rnd([4, 9, 7, 32], 40);
      return [tf.sum(x, 0), tf.sum(x, [1, 2]), tf.mean(x, [1, 2]), tf.mean(x, [1, 2], true), tf.sum(x, 3), tf.sum(x, [0, 1, 2]),
        tf.sum(x), tf.mean(x, [0, 2]), tf.sum(rnd([70000, 2], 41), 0)];
    });
    expectClose(cpu, nat);
  });

  it('inference batch norm (FusedBatchNorm) with and without scale/offset', async () => {
    const [cpu, nat] = await onBoth(() => {
      const x = rnd([4, 6, 5, 8], 50);
      const m = rnd([8], 51), v = tf.abs(rnd([8], 52)), g = rnd([8], 53), b = rnd([8], 54);
      return [tf.batchNorm(x, m, v, b, g, 1e-3), tf.batchNorm(x, m, v, undefined, undefined, 1e-5)];
    });
    expectClose(cpu, nat);
  });

  for (const [win, stride, pad] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'same'], [3, 2, 'valid']] as const) {
    it(`max and average pooling ${win}x${win}/${stride} ${pad}: forward and gradients`, async () => {
      const [cpu, nat] = await onBoth(() => {
        const x = rnd([2, 7, 9, 5], 60);
        const mp = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, win, stride, pad);
        const ap = (a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, win, stride, pad);
        const r = rnd(mp(x).shape, 61);
        const out = [mp(x), ap(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(mp(a), r)))(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(ap(a), r)))(x)];
        return pad === 'same' ? [...out.slice(0, 3), r] : out;
      });
      if (pad === 'same') {
        // TF.js's cpu AvgPoolGrad divides by the full window even where the forward
        // excluded padding; the native kernel gives the true gradient, checked here
        // against a loop that spreads dy[o] / count(o) over each window.
        await tf.setBackend('native');
        const got = tf.tidy(() => {
          const x = rnd([2, 7, 9, 5], 60);
          const ap = (a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, win, stride, pad);
          const r = rnd(ap(x).shape, 61);
          return Float32Array.from(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(ap(a), r)))(x).dataSync());
        });
        expectClose([avgPoolGradReference(cpu[3], [2, 7, 9, 5], win, stride)], [got]);
      }
      expectClose(cpu.slice(0, 3), nat.slice(0, 3));
      if (pad === 'valid') expectClose(cpu.slice(3), nat.slice(3));
    });
  }
});

describe.skipIf(!available)('native fused batch norm (training) vs the plain-tfjs op on cpu', () => {
  const shapes: number[][] = [[64, 8], [2, 5, 7, 16], [1, 3, 3, 4], [300, 3]];
  for (const shape of shapes) {
    for (const variant of ['plain', 'relu', 'relu+residual'] as const) {
      it(`${JSON.stringify(shape)} ${variant}: y, batch stats and gradients`, async () => {
        const c = shape[shape.length - 1];
        const relu = variant !== 'plain', withRes = variant === 'relu+residual';
        const f = (native: boolean) => () => {
          const x = tf.add(tf.mul(rnd(shape, 70), 3), 1), g = tf.add(rnd([c], 71), 1), b = rnd([c], 72), r = rnd(shape, 73);
          const up = rnd(shape, 74);
          const stats: tf.Tensor[] = [];
          const fwd = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, rr: tf.Tensor) => {
            if (native) {
              const o = nativeBatchNormTrain(xx, gg, bb, BN_EPSILON, { relu, residual: withRes ? rr : undefined });
              stats.push(o.mean, o.variance);
              return o.y;
            }
            const x2 = tf.reshape(xx, [-1, c]);
            const m = tf.moments(x2, [0]);
            stats.push(m.mean, m.variance);
            let y = tf.reshape(batchNormTrainOp(x2, gg, bb, [0]), shape);
            if (withRes) y = tf.add(y, rr);
            return relu ? tf.relu(y) : y;
          };
          const y = fwd(x, g, b, r);
          const loss = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(fwd(xx, gg, bb, rr), up));
          const grads = withRes ? tf.grads(loss)([x, g, b, r]) : tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => loss(xx, gg, bb, r))([x, g, b]);
          return [y, tf.reshape(stats[0], [c]), tf.reshape(stats[1], [c]), ...grads];
        };
        await tf.setBackend('cpu');
        const cpu = tf.tidy(() => f(false)().map((t) => Float32Array.from(t.dataSync())));
        await tf.setBackend('native');
        const before = tf.memory().numTensors;
        const nat = tf.tidy(() => f(true)().map((t) => Float32Array.from(t.dataSync())));
        expect(tf.memory().numTensors).toBe(before); // no leak from the custom op
        expectClose(cpu, nat, 2e-4);
      });
    }
  }
});

describe.skipIf(!available)('batchNormAct (ops.ts): fused on native, composed elsewhere', () => {
  it('same output, gradients and running statistics as batchNorm + add + relu on cpu', async () => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const v = {
        gamma: tf.variable(tf.add(rnd([6], 80), 1)), beta: tf.variable(rnd([6], 81)),
        movingMean: tf.variable(tf.zeros([6]), false), movingVariance: tf.variable(tf.ones([6]), false),
      };
      const res = tf.tidy(() => {
        const x = tf.mul(rnd([3, 4, 5, 6], 82), 2), r = rnd([3, 4, 5, 6], 83), up = rnd([3, 4, 5, 6], 84);
        const f = (xx: tf.Tensor, rr: tf.Tensor) => batchNormAct(xx, v, true, { relu: true, residual: rr });
        const y = f(x, r);
        const g = tf.grads((xx: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(f(xx, rr), up)))([x, r]);
        return [y, ...g, v.movingMean, v.movingVariance].map((t) => Float32Array.from(t.dataSync()));
      });
      tf.dispose(Object.values(v));
      return res;
    };
    const cpu = await run('cpu');
    const nat = await run('native');
    expectClose(cpu, nat, 2e-4);
  });
});

describe.skipIf(!available)('batch-norm statistics and backward sums against float64', () => {
  // The sums run in float within blocks of rows and in double across them; the
  // statistics are shifted by a pilot value, so a large mean does not cancel the variance.
  it('mean and variance of data far from zero, and the backward channel sums', () => {
    const addon = nativeBackend()!.addon;
    const M = 20000, C = 48;
    const x = Float32Array.from({ length: M * C }, (_, i) => 1000 + (i % C) * 10 + Math.sin(i * 0.37) * (1 + (i % 5)) * 0.01);
    const dy = Float32Array.from({ length: M * C }, (_, i) => Math.cos(i * 0.11));
    const mean = new Float32Array(C), variance = new Float32Array(C);
    addon.bnStats(x, mean, variance, [M, C]);
    const gamma = new Float32Array(C).fill(1.5);
    const dx = new Float32Array(M * C), dg = new Float32Array(C), db = new Float32Array(C);
    addon.bnBackward(dy, x, gamma, mean, variance, null, dx, dg, db, null, [M, C], BN_EPSILON);
    for (let c = 0; c < C; c++) {
      let s = 0, q = 0, sg = 0, sgx = 0;
      for (let r = 0; r < M; r++) s += x[r * C + c];
      const m = s / M;
      for (let r = 0; r < M; r++) {
        const d = x[r * C + c] - m;
        q += d * d;
        sg += dy[r * C + c];
        sgx += dy[r * C + c] * (x[r * C + c] - mean[c]);
      }
      const v = q / M;
      expect(Math.abs(mean[c] - m) / m).toBeLessThan(1e-7);
      expect(Math.abs(variance[c] - v) / v).toBeLessThan(1e-3); // the variance is ~1e-5 of mean^2 here
      expect(Math.abs(db[c] - sg)).toBeLessThan(1e-5 * M);
      expect(Math.abs(dg[c] - sgx / Math.sqrt(variance[c] + BN_EPSILON))).toBeLessThan(1e-4 * Math.abs(sgx / Math.sqrt(variance[c] + BN_EPSILON)) + 1e-2);
    }
  });
});

describe.skipIf(!available)('batch-norm backward: the ReLU mask recomputed from x', () => {
  it('gives the same bits as the mask read from the forward output, on one and two threads', () => {
    const addon = nativeBackend()!.addon;
    const M = 9000, C = 120, n = M * C; // over the threading threshold
    const wave = (k: number, s: number) => Float32Array.from({ length: k }, (_, i) => Math.sin(i * 0.731 + s) * 2);
    // Many pre-activations land near 0: x close to the channel mean, beta 0 on half the channels.
    const x = wave(n, 1).map((v, i) => (i % 7 === 0 ? 0.001 * v : v));
    const gamma = wave(C, 2), beta = wave(C, 3).map((v, c) => (c % 2 ? 0 : v)), dy = wave(n, 4);
    const mean = new Float32Array(C), variance = new Float32Array(C), y = new Float32Array(n);
    addon.bnStats(x, mean, variance, [M, C]);
    addon.bnForward(x, gamma, beta, null, y, mean, variance, [M, C], BN_EPSILON, true);
    expect(y.filter((v) => v === 0).length).toBeGreaterThan(n / 4);
    for (const threads of [1, 2]) {
      addon.setThreads(threads);
      const run = (fromX: boolean) => {
        const dx = new Float32Array(n), dg = new Float32Array(C), db = new Float32Array(C);
        addon.bnBackward(dy, x, gamma, mean, variance, fromX ? null : y, dx, dg, db, null, [M, C], BN_EPSILON, fromX ? beta : null);
        return [dx, dg, db];
      };
      const [fromY, fromX] = [run(false), run(true)];
      fromY.forEach((a, i) => expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(fromX[i].buffer))).toBe(0));
    }
    addon.setThreads(2);
  });
});

describe('running statistics updated on the host', () => {
  it('same bits as the tfjs-op update, for n > 1 and n = 1', async () => {
    await tf.setBackend('cpu');
    for (const count of [37, 1]) {
      const make = () => ({
        gamma: tf.variable(tf.ones([300])), beta: tf.variable(tf.zeros([300])),
        movingMean: tf.variable(rnd([300], 95), false), movingVariance: tf.variable(tf.abs(rnd([300], 96)), false),
      });
      const [a, b] = [make(), make()];
      const mean = rnd([300], 97), variance = tf.abs(rnd([300], 98));
      for (let i = 0; i < 3; i++) {
        updateRunningStats(a, mean, variance, count);
        updateRunningStatsHost(b, mean, variance, count);
      }
      expect(b.movingMean.dataSync()).toEqual(a.movingMean.dataSync());
      expect(b.movingVariance.dataSync()).toEqual(a.movingVariance.dataSync());
      expect(b.movingMean.dataSync()).not.toEqual(rnd([300], 95).dataSync());
      tf.dispose([...Object.values(a), ...Object.values(b), mean, variance]);
    }
  });
});

describe.skipIf(!available)('output buffer pool', () => {
  it('recycles disposed outputs but never an array that is still visible', async () => {
    await tf.setBackend('native');
    const pool = nativeBackend()!.pool;
    const x = rnd([64, 1024], 90), y = rnd([64, 1024], 91);
    // Plain reuse: a disposed native output goes back to the pool.
    const t = tf.add(x, y);
    const idle = pool.stats().idleArrays;
    t.dispose();
    expect(pool.stats().idleArrays).toBe(idle + 1);
    // A cpu Slice is a view of the array: disposing the source must not recycle it.
    const a = tf.add(x, 1);
    const half = tf.slice(a, [0, 0], [32, 1024]);
    const expected = tf.mul(half, 1); // a native copy
    a.dispose();
    const others = [tf.add(x, 5), tf.add(y, 7), tf.mul(x, y)]; // same length: would reuse a's array
    expect(tf.max(tf.abs(tf.sub(half, expected))).dataSync()[0]).toBe(0);
    // An array handed out by dataSync() stays the caller's.
    const b = tf.add(x, 2);
    const seen = b.dataSync();
    const copy = Float32Array.from(seen);
    b.dispose();
    others.push(tf.add(x, 9), tf.add(y, 11));
    expect(Array.from(seen.subarray(0, 64))).toEqual(Array.from(copy.subarray(0, 64)));
    expect(seen.every((v, i) => v === copy[i])).toBe(true);
    tf.dispose([x, y, half, expected, ...others]);
  });
});
