// `window.selfsup`: what the page offers scripts (and the browser tests).
export interface SearchHit { id: string; score: number }

export interface Timings { decode: number; preprocess: number; embed: number; search: number }

export interface SelfsupPageApi {
  /** Resolves once the model and the index are loaded; rejects with the message the page shows. */
  ready: Promise<void>;
  /** The k nearest indexed images to the image at `url`, best first, with cosine similarities. */
  searchUrl(url: string, k: number): Promise<SearchHit[]>;
  /** The tfjs backend the page runs on ('webgl', 'wasm' or 'cpu'), once ready. */
  backend?: string;
  /** Why the usual first choice was passed over (e.g. a software WebGL renderer), if it was. */
  backendNote?: string;
  /** The model input the page computes for an image (for checking against Node). */
  preprocessUrl(url: string): Promise<Float32Array>;
  /** The L2-normalized embedding of an image. */
  embedUrl(url: string): Promise<Float32Array>;
  /** Milliseconds spent in each stage of the last searchUrl. */
  timings?: Timings;
}
