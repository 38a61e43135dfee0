// The body of the view worker (see prefetch.ts): its own tfjs on the parent's backend,
// a TwoViewAugmenter built from the parent's settings, and one reply per request with
// the two views as transferred Float32Arrays.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { TwoViewAugmenter } from '../../augment/index.ts';
import { useBackend, type BackendName } from '../backend/index.ts';
import { Rng } from '../util/rng.ts';
import type { ViewReply, ViewRequest, ViewWorkerData } from './prefetch.ts';

const port = parentPort!;
const data = workerData as ViewWorkerData;
const reply = (m: ViewReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

try {
  await useBackend(data.backend as BackendName, { threads: data.threads });
  const augmenter = new TwoViewAugmenter(data.cfg, data.opts);
  port.on('message', (m: ViewRequest) => {
    try {
      const { view1, view2 } = augmenter.views(m.batch, new Rng(m.seed));
      // dataSync hands over the backend's own arrays (the native backend stops recycling them), so
      // they can be transferred without a copy once the tensors are gone.
      const a = view1.dataSync() as Float32Array, b = view2.dataSync() as Float32Array;
      const shape1 = view1.shape, shape2 = view2.shape;
      tf.dispose([view1, view2]);
      reply({ type: 'views', id: m.id, view1: a, view2: b, shape1, shape2 }, [a.buffer as ArrayBuffer, b.buffer as ArrayBuffer]);
    } catch (e) {
      reply({ type: 'error', id: m.id, error: (e as Error).message });
    }
  });
  reply({ type: 'ready' });
} catch (e) {
  reply({ type: 'failed', error: (e as Error).message });
}
