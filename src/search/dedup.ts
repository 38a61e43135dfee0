// Near-duplicate groups in an index: byte-identical files first (same SHA-256),
// then pairs whose embeddings have cosine >= threshold, found with the engine's
// k-NN (a generous k) and verified exactly on the stored vectors; the groups
// are the connected components of all those pairs (union-find).
import fs from 'node:fs';
import path from 'node:path';
import type { SearchIndex } from './open.ts';

/**
 * Default cosine threshold when the model has no calibration.json, measured with
 * `npx tsx bench/search.ts --checkpoint RUN --dedup-only` on a 3-epoch MNIST SimCLR
 * backbone (README, "Search your images"): planted near-duplicates (JPEG at quality
 * 60-78, 1-pixel crops) of 60 synthetic pictures scored >= 0.99969 while the closest
 * distinct pictures scored <= 0.9995; for 300 digits the two ranges touch (0.999563
 * vs 0.999575). Weak or out-of-domain backbones squeeze every cosine toward 1, so
 * the default sits very near it; calibrate your model (selfsup eval verify) or pass
 * --threshold for anything serious.
 */
export const DEFAULT_DEDUP_THRESHOLD = 0.9996;

export interface DupMember {
  id: string;
  row: number;
  /** Cosine similarity to the group's first member (1 for the first). */
  similarity: number;
  /** Same file bytes (SHA-256) as the first member. */
  identical: boolean;
}

export interface DupGroup {
  /** 'exact': every member has the first member's bytes; 'near': at least one differs. */
  kind: 'exact' | 'near';
  members: DupMember[];
}

export interface DedupOptions {
  threshold: number;
  /** Neighbours examined per item (default 16). */
  k?: number;
  /** Brute force instead of the engine. */
  exact?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface DedupResult { groups: DupGroup[]; pairs: number }

export async function findDuplicates(index: SearchIndex, opts: DedupOptions): Promise<DedupResult> {
  const n = index.count;
  const dim = index.dim;
  const uf = new UnionFind(n);
  const byHash = new Map<string, number>();
  index.ids.forEach((e, r) => {
    const first = byHash.get(e.sha256);
    if (first === undefined) byHash.set(e.sha256, r); else uf.union(first, r);
  });
  const k = Math.min(n, (opts.k ?? 16) + 1);
  const v = index.vectors;
  let pairs = 0;
  const CHUNK = 1024;
  for (let s = 0; s < n && k > 1; s += CHUNK) {
    const m = Math.min(CHUNK, n - s);
    const hits = await index.hits(v.subarray(s * dim, (s + m) * dim), k, { exact: opts.exact });
    for (let q = 0; q < m; q++) {
      const a = s + q;
      for (let j = 0; j < hits.k; j++) {
        const b = hits.keys[q * hits.k + j];
        // The engine's score is approximate (float32, maybe quantized): a loose pre-filter, then the exact check.
        if (b < 0 || b === a || hits.scores[q * hits.k + j] < opts.threshold - 1e-3) continue;
        if (cosine(v, a, b, dim) >= opts.threshold) {
          pairs++;
          uf.union(a, b);
        }
      }
    }
    opts.onProgress?.(s + m, n);
  }
  return { groups: collectGroups(index, uf), pairs };
}

function collectGroups(index: SearchIndex, uf: UnionFind): DupGroup[] {
  const comps = new Map<number, number[]>();
  for (let r = 0; r < index.count; r++) {
    const root = uf.find(r);
    const c = comps.get(root);
    if (c) c.push(r); else comps.set(root, [r]);
  }
  const groups: DupGroup[] = [];
  for (const rows of comps.values()) {
    if (rows.length < 2) continue;
    rows.sort((a, b) => (index.ids[a].id < index.ids[b].id ? -1 : 1));
    const first = rows[0];
    const members = rows.map((r) => ({
      id: index.ids[r].id, row: r,
      similarity: r === first ? 1 : cosine(index.vectors, first, r, index.dim),
      identical: index.ids[r].sha256 === index.ids[first].sha256,
    }));
    groups.push({ kind: members.every((m) => m.identical) ? 'exact' : 'near', members });
  }
  return groups.sort((a, b) => (a.members[0].id < b.members[0].id ? -1 : 1));
}

/** Cosine of two stored (unit) rows, accumulated in float64. */
function cosine(v: Float32Array, a: number, b: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += v[a * dim + j] * v[b * dim + j];
  return s;
}

export interface Calibration { threshold: number; backbone_sha256: string; [k: string]: unknown }

/**
 * The threshold to use and where it came from: --threshold, else the model's
 * calibration.json (selfsup eval verify: <run dir>/eval/calibration.json) when it
 * was made for this very backbone, else DEFAULT_DEDUP_THRESHOLD.
 */
export function resolveThreshold(index: SearchIndex, given?: number): { threshold: number; source: string } {
  if (given !== undefined) return { threshold: given, source: '--threshold' };
  const ckpt = index.manifest.model.checkpoint;
  // A checkpoint is <run>/ckpt/step-N; calibration lives in <run>/eval/.
  const candidates = [path.join(ckpt, '..', '..', 'eval', 'calibration.json'), path.join(ckpt, 'eval', 'calibration.json')];
  const notes: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    try {
      const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Calibration;
      if (c.backbone_sha256 !== index.manifest.model.fingerprint) {
        notes.push(`${file} is for backbone ${String(c.backbone_sha256).slice(0, 12)}, not this index's ${index.manifest.model.fingerprint.slice(0, 12)}`);
      } else if (typeof c.threshold === 'number' && c.threshold > -1 && c.threshold <= 1) {
        return { threshold: c.threshold, source: `calibration ${path.resolve(file)}` };
      } else {
        notes.push(`${file} has no usable threshold`);
      }
    } catch (e) {
      notes.push(`${file} is unreadable (${(e as Error).message})`);
    }
  }
  return { threshold: DEFAULT_DEDUP_THRESHOLD, source: `default${notes.length ? ` (${notes.join('; ')})` : ' (no calibration.json for this model)'}` };
}

class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) { this.parent = Int32Array.from({ length: n }, (_, i) => i); }
  find(x: number): number {
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x]];
      x = this.parent[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}
