// Checks of the paths a command will write (--out, --sheet, --csv ...), made
// before any work: a path inside a file, a folder where a file is expected (or
// the reverse) or a location that cannot be written is the user's to change,
// and finding out after an hour of embedding or training, as an internal
// error, is not the way to learn it.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';

/** `flag` names the option in messages, e.g. '--out' or '--sheet'. */
export function checkOutFile(flag: string, file: string, opts: { ext?: string } = {}): void {
  if (opts.ext && !file.toLowerCase().endsWith(opts.ext)) throw new UserError(`${flag}: '${file}' should be a ${opts.ext} file`);
  const st = statOrUndefined(file);
  if (st?.isDirectory()) throw new UserError(`${flag} ${file}: is a folder; give the path of a file to write`);
  checkCreatable(flag, file, path.dirname(path.resolve(file)));
}

export function checkOutDir(flag: string, dir: string): void {
  const st = statOrUndefined(dir);
  if (st && !st.isDirectory()) throw new UserError(`${flag} ${dir}: is a file, not a folder; give a folder path`);
  checkCreatable(flag, dir, path.resolve(dir));
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** The nearest existing folder at or above `dir` must be a folder we can create entries in. */
function checkCreatable(flag: string, given: string, dir: string): void {
  let at = dir;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  if (!fs.statSync(at).isDirectory()) throw new UserError(`${flag} ${given}: ${at} is a file, so nothing can be written under it`);
  // Permission bits do not tell (root, read-only mounts, /proc), so try: make and remove an empty folder.
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(at, '.selfsup-write-check-')));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new UserError(`${flag} ${given}: cannot write in ${at} (${code}); give a writable location`);
  }
}
