// PNG pictures of a run for people: the loss and the k-NN accuracy over training,
// drawn from metrics.jsonl (so they cover a resumed run as a whole).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accuracyCurve } from '../eval/report.ts';
import { plotLines } from '../eval/plots.ts';
import { readMetrics } from '../log/metrics.ts';

export function writeRunPlots(runDir: string): string[] {
  const records = readMetrics(join(runDir, 'metrics.jsonl'));
  const written: string[] = [];
  const train = records.filter((r) => r.kind === 'train' && typeof r.loss === 'number');
  if (train.length > 1) {
    const p = join(runDir, 'loss.png');
    writeFileSync(p, plotLines([{ label: 'training loss', x: train.map((r) => r.step), y: train.map((r) => r.loss as number) }], {
      title: 'Training loss', xLabel: 'step', yLabel: 'loss',
    }));
    written.push(p);
  }
  const knn = accuracyCurve(records);
  if (knn.length > 0 && knn[0].x.length > 1) {
    const p = join(runDir, 'knn-accuracy.png');
    writeFileSync(p, plotLines(knn, { title: 'k-NN accuracy during pretraining', xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1] }));
    written.push(p);
  }
  return written;
}
