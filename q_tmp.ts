import * as tf from '@tensorflow/tfjs';
import { loadNative } from './src/backend/native.ts';
import { REFERENCE, buildStep } from './bench/step.ts';
await loadNative({ threads: 2 });
await tf.setBackend('native');
const s = buildStep({ ...REFERENCE, batch: 16 });
s.run(); s.run();
