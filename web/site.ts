// site.json: what `selfsup export --format web` writes next to index.html and
// what the page reads first. Everything else the page loads is named here.
import type { PagePreprocessing } from './preprocess.ts';
import type { VectorDtype } from './vectors.ts';

export const SITE_FORMAT = 'selfsup-site';
export const SITE_VERSION = 1;
export const SITE_MANIFEST = 'site.json';

export interface SiteManifest {
  format: typeof SITE_FORMAT;
  version: typeof SITE_VERSION;
  /** model.json of the exported backbone, relative to the site. */
  model: string;
  /** weightsHash of the backbone; equal to the index's model.fingerprint (checked at export). */
  fingerprint: string;
  preprocessing: PagePreprocessing;
  dim: number;
  count: number;
  /** Row-major [count, dim]: float16 values, or int8 values with one float32 scale per row in `scales`. */
  vectors: { file: string; dtype: VectorDtype; scales?: string };
  /** JSON array of ids, row order. */
  ids: string;
  /** One thumbnail per row, `${dir}/${row}.webp`, except rows listed in `missing` (the image could not be read at export). */
  thumbs: { dir: string; size: number; missing: number[] };
  /** Where the index came from, for the page's header. */
  source: { index: string; step?: number; method?: string; recipe?: string };
}
