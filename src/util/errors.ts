// User errors (bad recipe key, missing file, corrupt image...) exit with code 2
// and a one-line message; everything else is a bug and exits 1.
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    // One line, always: messages quote the user's own values, which may hold newlines or control characters.
    // eslint-disable-next-line no-control-regex
    super(message.replace(/\r?\n/g, '\\n').replace(/[\u0000-\u0008\u000b-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'UserError');
}
