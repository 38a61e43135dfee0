// Glob patterns for picking files in an image folder, matched against paths
// relative to the folder with '/' separators: `*` and `?` stay within one path
// segment, `**/` spans any number of folders, `{a,b}` and `[abc]` as in shells.
import { UserError } from '../util/errors.ts';

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        re += slash ? '(?:[^/]*/)*' : '.*';
        i += slash ? 2 : 1;
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new UserError(`data.glob: unclosed '[' in ${JSON.stringify(pattern)}`);
      const body = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
      re += `[${body}]`;
      i = end;
    } else if (ch === '{') {
      braces++;
      re += '(?:';
    } else if (ch === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (ch === ',' && braces > 0) {
      re += '|';
    } else {
      re += ch.replace(/[.+^$()|\\]/g, '\\$&');
    }
  }
  if (braces > 0) throw new UserError(`data.glob: unclosed '{' in ${JSON.stringify(pattern)}`);
  return new RegExp(`^${re}$`);
}
