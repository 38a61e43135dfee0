import { linearProbe } from './src/eval/linear.ts';
import { Rng } from './src/util/rng.ts';
for (const [n, dim] of [[8000, 64], [8000, 512]]) {
  const rng = new Rng(0);
  const f = Float32Array.from({ length: n * dim }, () => rng.normal());
  const labels = Int32Array.from({ length: n }, () => rng.int(10));
  const t = Float32Array.from({ length: 2000 * dim }, () => rng.normal());
  const tl = Int32Array.from({ length: 2000 }, () => rng.int(10));
  const t0 = performance.now();
  linearProbe({ features: f, labels, dim, role: 'train' }, { features: t, labels: tl, dim, role: 'test' },
    { epochs: 100, lr: 0.1, weight_decay: [0, 1e-5, 1e-4, 1e-3], batch_size: 256, momentum: 0.9, schedule: 'cosine', val_fraction: 0.1, numClasses: 10, rng: new Rng(1) });
  console.log(`n=${n} dim=${dim}: ${((performance.now() - t0) / 1000).toFixed(1)} s for 4 decays + refit, 100 epochs each`);
}
