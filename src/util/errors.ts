/**
 * An error the user can fix (bad recipe, missing file, wrong column, corrupt image, NaN loss).
 * The CLI prints its message without a stack trace and exits non-zero; the message names the
 * file or field at fault and says what to do.
 */
export class UserError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** True when `e` is a {@link UserError} (also across module copies). */
export function isUserError(e: unknown): e is UserError {
  return e instanceof Error && e.name === 'UserError';
}
