// `selfsup embed --engine postgres` end to end on a real PostgreSQL + pgvector
// (started by test/pg-server.ts): the table follows the index folder through
// an incremental run that drops rows, and its answers match brute force.
// Skipped, with the reason printed, where no server with pgvector can be started
// (the engine itself is also tested on PGlite in search-postgres.test.ts).
import * as tf from '@tensorflow/tfjs';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedImages } from '../src/search/embed.ts';
import { openIndex, type SearchIndex } from '../src/search/open.ts';
import { startPgServer, type PgServer } from './pg-server.ts';
import { name, pictureFolder, tempDir, tinyCheckpoint } from './search-fixtures.ts';

let server: PgServer | null = null;
let skip = '';
try {
  server = await startPgServer();
  if (!server.hasVector) { skip = `PostgreSQL ${server.version} has no pgvector`; server.stop(); server = null; }
} catch (e) {
  skip = (e as Error).message;
}
// CI sets SELFSUP_PG_REQUIRE_SERVER=1 once pgvector is installed: then a missing server fails instead of skipping.
if (skip && process.env.SELFSUP_PG_REQUIRE_SERVER === '1') throw new Error(`search-embed-postgres: a real server was required (SELFSUP_PG_REQUIRE_SERVER=1) but: ${skip}`);
if (skip) console.warn(`search-embed-postgres: skipped (${skip})`);

async function agreesWithExact(ix: SearchIndex): Promise<void> {
  for (let r = 0; r < ix.count; r++) {
    const got = (await ix.search(ix.vector(r), 5))[0];
    const want = (await ix.search(ix.vector(r), 5, { exact: true }))[0];
    expect(got.map((n) => n.id)).toEqual(want.map((n) => n.id));
    got.forEach((n, i) => expect(n.score).toBeCloseTo(want[i].score, 4));
  }
}

describe.skipIf(!server)('embed --engine postgres', () => {
  afterAll(() => server?.stop());
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('builds the table, follows deletions (stale keys removed), agrees with exact', async () => {
    const { run } = await tinyCheckpoint();
    const images = await pictureFolder(20);
    const out = join(tempDir('selfsup-pg-idx-'), 'idx');
    const quiet = { quiet: true, log: () => {} };
    await embedImages({ checkpoint: run, images, out, engine: 'postgres', db: server!.url, ...quiet });
    let ix = await openIndex(out, { db: server!.url });
    expect(ix.manifest.engine).toMatchObject({ name: 'postgres', count: 20, extent: 20 });
    expect(ix.manifest.engine.db).not.toContain(server!.password);
    await agreesWithExact(ix);
    await ix.close();
    rmSync(join(images, name(4)));
    rmSync(join(images, name(11)));
    const r = await embedImages({ checkpoint: run, images, out, engine: 'postgres', db: server!.url, ...quiet });
    expect(r).toMatchObject({ count: 18, removed: 2, added: 0 });
    // openIndex checks the table holds exactly the folder's 18 rows (keys 18, 19 were removed).
    ix = await openIndex(out, { db: server!.url });
    expect(ix.manifest.engine).toMatchObject({ count: 18, extent: 18 });
    await agreesWithExact(ix);
    await ix.close();
  });
});
