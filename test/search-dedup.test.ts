// selfsup dedup: byte-identical copies and planted near-duplicates (JPEG
// re-encoded at another quality, a 1-pixel crop) are grouped at the default
// threshold, distinct pictures are not; calibration.json is used only when it
// was made for the index's backbone.
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEDUP_THRESHOLD, findDuplicates, resolveThreshold } from '../src/search/dedup.ts';
import { embedImages } from '../src/search/embed.ts';
import { openIndex, type SearchIndex } from '../src/search/open.ts';
import { name, pictureFolder, plantNearDuplicates, tempDir, tinyCheckpoint } from './search-fixtures.ts';

describe('dedup', () => {
  let run: string;
  let fingerprint: string;
  let index: SearchIndex;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ run, fingerprint } = await tinyCheckpoint());
    const images = await pictureFolder(30);
    for (const i of [2, 11, 25]) await plantNearDuplicates(join(images, name(i)), join(images, `p${String(i).padStart(3, '0')}`));
    copyFileSync(join(images, name(17)), join(images, 'copy-of-17.png'));
    const out = join(tempDir('selfsup-dedup-'), 'idx');
    await embedImages({ checkpoint: run, images, out, quiet: true, log: () => {} });
    index = await openIndex(out);
  });

  it('finds the planted groups and no other at the default threshold', async () => {
    const { threshold, source } = resolveThreshold(index);
    expect(threshold).toBe(DEFAULT_DEDUP_THRESHOLD);
    expect(source).toMatch(/^default/);
    const { groups } = await findDuplicates(index, { threshold });
    expect(groups.map((g) => [g.kind, g.members.map((m) => m.id)])).toEqual([
      ['exact', ['copy-of-17.png', 'p017.png']],
      ['near', ['p002-crop.png', 'p002-q70.jpg', 'p002.png']],
      ['near', ['p011-crop.png', 'p011-q70.jpg', 'p011.png']],
      ['near', ['p025-crop.png', 'p025-q70.jpg', 'p025.png']],
    ]);
    for (const g of groups) {
      const first = g.members[0].row;
      g.members.forEach((m, i) => {
        // Similarity to the first member, against a float64 dot product of the stored rows.
        let dot = 0;
        for (let j = 0; j < index.dim; j++) dot += index.vector(first)[j] * index.vector(m.row)[j];
        expect(m.similarity).toBeCloseTo(i === 0 ? 1 : dot, 6);
        expect(m.identical).toBe(i === 0 || g.kind === 'exact');
      });
    }
    // Brute force finds the same groups.
    expect((await findDuplicates(index, { threshold, exact: true })).groups).toEqual(groups);
  });

  it('the most similar distinct pictures stay below the default threshold (the margin the default rests on)', async () => {
    const planted = /-(crop|q70)\.|copy-of/;
    let maxDistinct = -1;
    for (let r = 0; r < index.count; r++) {
      const stem = (id: string) => id.replace(/^copy-of-(\d+)/, 'p0$1').slice(0, 4);
      for (const n of (await index.search(index.vector(r), 4, { exact: true }))[0]) {
        if (n.row === r || stem(n.id) === stem(index.ids[r].id)) continue;
        if (!planted.test(n.id) || !planted.test(index.ids[r].id)) maxDistinct = Math.max(maxDistinct, n.score);
      }
    }
    expect(maxDistinct).toBeGreaterThan(0.9); // random-init features are all alike: the threshold must sit very near 1
    expect(maxDistinct).toBeLessThan(DEFAULT_DEDUP_THRESHOLD);
  });

  it('a lower threshold merges more; calibration.json is used only for this backbone', async () => {
    const loose = await findDuplicates(index, { threshold: -1, k: 40 });
    expect(loose.groups).toHaveLength(1);
    expect(loose.groups[0].members).toHaveLength(index.count);
    const evalDir = join(run, 'eval');
    mkdirSync(evalDir, { recursive: true });
    const cal = { threshold: 0.5, far: 0.01, tar: 0.9, auc: 0.95, eer: 0.05, eer_threshold: 0.6, similarity: 'cosine', embedding: 'backbone', checkpoint: run, pairs: 100 };
    writeFileSync(join(evalDir, 'calibration.json'), JSON.stringify({ ...cal, backbone_sha256: 'f'.repeat(64) }));
    const other = resolveThreshold(index);
    expect(other.threshold).toBe(DEFAULT_DEDUP_THRESHOLD);
    expect(other.source).toMatch(/calibration\.json is for backbone ffffffffffff/);
    writeFileSync(join(evalDir, 'calibration.json'), JSON.stringify({ ...cal, backbone_sha256: fingerprint }));
    expect(resolveThreshold(index)).toEqual({ threshold: 0.5, source: `calibration ${join(evalDir, 'calibration.json')}` });
    expect(resolveThreshold(index, 0.99)).toEqual({ threshold: 0.99, source: '--threshold' });
  });
});
