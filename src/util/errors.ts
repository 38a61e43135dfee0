// User errors (bad recipe key, missing file, corrupt image...) exit with code 2
// and a one-line message; everything else is a bug and exits 1.
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'UserError');
}
