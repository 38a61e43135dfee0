// Native-backend tests skip where the oneDNN addon does not load (no libdnnl-dev,
// SELFSUP_SKIP_NATIVE=1). The install never fails on a compile error, so that
// skip alone would let a broken native/ pass CI: with SELFSUP_REQUIRE_NATIVE=1
// (set by .ci/run, where libdnnl-dev is installed) a missing addon fails instead.
import { readFileSync } from 'node:fs';
import { loadNative } from '../src/backend/native.ts';

/** Whether the native backend loaded; throws (failing the importing test file) when it is required and did not. */
export async function nativeForTests(threads: number): Promise<boolean> {
  const load = await loadNative({ threads });
  if (load.ok || process.env.SELFSUP_REQUIRE_NATIVE !== '1') return load.ok;
  let build = 'native/build-status.json missing (the install script never ran)';
  try { build = `native/build-status.json: ${readFileSync('native/build-status.json', 'utf8').trim()}`; } catch { /* keep the default */ }
  throw new Error(`SELFSUP_REQUIRE_NATIVE=1 but the native addon did not load (${load.reason}); ${build}`);
}
