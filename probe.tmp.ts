import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { useHostMath } from './src/optim/host.ts';
for (const b of ['cpu', 'wasm']) { await tf.setBackend(b); console.log(b, useHostMath('auto'), Object.getPrototypeOf(tf.backend()).constructor.name); }
// A backend that reuses the CPU backend class under another name.
const cpuCtor = (await (async () => { await tf.setBackend('cpu'); return tf.backend().constructor; })()) as new () => tf.KernelBackend;
tf.registerBackend('fakenative', () => new (class FakeNative extends (cpuCtor as any) {})());
await tf.setBackend('fakenative'); console.log('fakenative', useHostMath('auto'));
