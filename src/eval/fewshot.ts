// Few-shot evaluation: n-way k-shot episodes drawn from classes held out of
// pretraining, classified by nearest class mean on L2-normalized embeddings
// (cosine to the normalized mean of each class's support items). This is the
// open-world use a self-supervised encoder is for: new classes, a handful of
// labelled examples, no training.
import type { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { l2normalize } from './knn.ts';

export interface Episode {
  /** The episode's classes (original labels); position = episode-local class id. */
  classes: number[];
  /** Item indices, `shots` per class, grouped by class in `classes` order. */
  support: Int32Array;
  /** Item indices, `queries` per class, grouped by class in `classes` order. */
  query: Int32Array;
}

export interface EpisodeSpec { ways: number; shots: number; queries: number; episodes: number }

export interface FewShotResult {
  ways: number;
  shots: number;
  queries: number;
  episodes: number;
  /** Mean episode accuracy. */
  accuracy: number;
  /** Half-width of the 95% normal-approximation interval of the mean: 1.96 * sd / sqrt(episodes). */
  ci95: number;
  classes: number[];
}

/** Item indices per label, for the labels in `classes` (all labels present when empty). */
export function indexByClass(labels: Int32Array, classes: number[]): Map<number, number[]> {
  const keep = classes.length ? new Set(classes) : undefined;
  const by = new Map<number, number[]>();
  for (const c of classes) by.set(c, []);
  labels.forEach((l, i) => {
    if (keep && !keep.has(l)) return;
    let list = by.get(l);
    if (!list) { list = []; by.set(l, list); }
    list.push(i);
  });
  return new Map([...by.entries()].sort((a, b) => a[0] - b[0]));
}

/**
 * Draws episodes: each picks `ways` distinct classes, then `shots + queries`
 * distinct items per class (support and query never share an item).
 * Reproducible from the generator's state.
 */
export function sampleEpisodes(labels: Int32Array, classes: number[], spec: EpisodeSpec, rng: Rng): Episode[] {
  const by = indexByClass(labels, classes);
  const pool = [...by.keys()];
  if (pool.length < spec.ways) {
    throw new UserError(`eval.fewshot.ways=${spec.ways} but only ${pool.length} classes are available (${pool.join(', ')}); use ways <= ${pool.length}`);
  }
  const need = spec.shots + spec.queries;
  for (const [c, items] of by) {
    if (items.length < need) {
      throw new UserError(`eval.fewshot: class ${c} has ${items.length} items, fewer than shots + queries = ${need}; lower eval.fewshot.shots/queries`);
    }
  }
  const episodes: Episode[] = [];
  for (let e = 0; e < spec.episodes; e++) {
    const chosen = pickDistinct(pool, spec.ways, rng);
    const support = new Int32Array(spec.ways * spec.shots);
    const query = new Int32Array(spec.ways * spec.queries);
    chosen.forEach((c, w) => {
      const items = pickDistinct(by.get(c)!, need, rng);
      support.set(items.slice(0, spec.shots), w * spec.shots);
      query.set(items.slice(spec.shots), w * spec.queries);
    });
    episodes.push({ classes: chosen, support, query });
  }
  return episodes;
}

/** `k` distinct elements of `a`, in draw order (partial Fisher-Yates on a copy). */
function pickDistinct<T>(a: readonly T[], k: number, rng: Rng): T[] {
  const copy = a.slice();
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(copy.length - i);
    const t = copy[i]; copy[i] = copy[j]; copy[j] = t;
  }
  return copy.slice(0, k);
}

/** Accuracy of nearest-class-mean on one episode; `features` are L2-normalized rows. */
export function episodeAccuracy(features: Float32Array, dim: number, ep: Episode): number {
  const ways = ep.classes.length;
  const shots = ep.support.length / ways;
  const queries = ep.query.length / ways;
  const protos = new Float32Array(ways * dim);
  for (let w = 0; w < ways; w++) {
    for (let s = 0; s < shots; s++) {
      const row = ep.support[w * shots + s] * dim;
      for (let j = 0; j < dim; j++) protos[w * dim + j] += features[row + j];
    }
  }
  const p = l2normalize(protos, dim);
  let correct = 0;
  for (let w = 0; w < ways; w++) {
    for (let q = 0; q < queries; q++) {
      const row = ep.query[w * queries + q] * dim;
      let best = -1;
      let bestSim = -Infinity;
      for (let c = 0; c < ways; c++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += p[c * dim + j] * features[row + j];
        if (s > bestSim) { bestSim = s; best = c; }
      }
      if (best === w) correct++;
    }
  }
  return correct / (ways * queries);
}

/** Mean and 95% interval half-width of per-episode accuracies. */
export function meanWithCi95(xs: number[]): { mean: number; ci95: number } {
  const n = xs.length;
  if (n === 0) return { mean: 0, ci95: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, ci95: 0 };
  const variance = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (n - 1);
  return { mean, ci95: 1.96 * Math.sqrt(variance / n) };
}

/** Mean nearest-class-mean accuracy over drawn episodes, on L2-normalized features. */
export function scoreEpisodes(features: Float32Array, dim: number, episodes: Episode[], spec: EpisodeSpec, classes: number[]): FewShotResult {
  const { mean, ci95 } = meanWithCi95(episodes.map((ep) => episodeAccuracy(features, dim, ep)));
  return { ways: spec.ways, shots: spec.shots, queries: spec.queries, episodes: spec.episodes, accuracy: mean, ci95, classes };
}

/** Runs `spec.episodes` episodes over L2-normalized features with their labels. */
export function fewShotEval(
  features: Float32Array, labels: Int32Array, dim: number, classes: number[], spec: EpisodeSpec, rng: Rng,
): FewShotResult {
  const episodes = sampleEpisodes(labels, classes, spec, rng);
  return scoreEpisodes(features, dim, episodes, spec, [...indexByClass(labels, classes).keys()]);
}
