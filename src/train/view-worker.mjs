// Entry of the view worker (see prefetch.ts). A worker thread does not inherit the
// parent's TypeScript loader in every setup (the selfsup command registers tsx in
// its own thread only), so it registers tsx itself before loading the TypeScript body.
import { register } from 'tsx/esm/api';

register();
await import('./view-worker.ts');
