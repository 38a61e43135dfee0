import * as tf from '@tensorflow/tfjs';
import { loadNative, nativeBackend } from './src/backend/native.ts';
import { REFERENCE, stepFlops, timeStep } from './bench/step.ts';
console.log('flops', stepFlops(REFERENCE) / 1e9);
await loadNative({ threads: 2 });
await tf.setBackend('native');
const r = await timeStep({ ...REFERENCE, batch: Number(process.argv[2] ?? 32) }, { steps: 2, warmup: 1 });
console.log(r);
console.log(nativeBackend()!.counts);
