/**
 * Errors a user can cause, each with the process exit code the CLI uses (documented in the
 * README): the CLI prints the message without a stack trace. The message names the file, field or
 * value at fault and says what to do.
 */

/** Exit codes of the `ben` CLI. */
export const EXIT_CODES = {
  /** Finished. */
  ok: 0,
  /** Internal error (a bug): the stack trace is printed. */
  internal: 1,
  /** User error: bad flag, recipe field, path or option; an output that would replace what is not ours. */
  user: 2,
  /** Data error: an input table, CSV or image is unreadable or inconsistent. */
  data: 3,
  /** Numerical stop: the loss or the weights became NaN/Inf. */
  numerical: 4,
  /** System error: disk full, read-only file system, permission denied. */
  system: 5,
} as const;

/**
 * An error the user can fix (bad recipe, missing file, wrong column, refused output). The CLI
 * prints its message without a stack trace and exits with {@link exitCode}.
 */
export class UserError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_CODES.user) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** Unreadable or inconsistent input data (a table, a metadata CSV, an image): exit code 3. */
export class DataError extends UserError {
  constructor(message: string) {
    super(message, EXIT_CODES.data);
  }
}

/** Training stopped on a non-finite loss or weights: exit code 4. */
export class NumericalError extends UserError {
  constructor(message: string) {
    super(message, EXIT_CODES.numerical);
  }
}

/** True when `e` is a {@link UserError} (also across module copies). */
export function isUserError(e: unknown): e is UserError {
  return e instanceof Error && e.name === 'UserError';
}

/** File-system error codes a user's environment causes, with what to do about each. */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device; free space or write to another disk',
  EDQUOT: 'disk quota exceeded; free space or write elsewhere',
  EROFS: 'the file system is read-only; write to a writable folder (e.g. --out, --run-dir)',
  EACCES: 'permission denied; choose a folder you can write to, or fix its permissions',
  EPERM: 'operation not permitted; choose a folder you can write to, or fix its permissions',
  EMFILE: 'too many open files; raise the limit (ulimit -n) or use fewer threads',
};
/** File-system codes for a path that is not what the command expected. */
const PATH_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  ENAMETOOLONG: 'the path is too long',
};

/**
 * A one-line message and exit code for a Node file-system error a user can cause (disk full,
 * read-only folder, permission, a path that is a file where a folder is expected), else undefined.
 */
export function describeSystemError(e: unknown): { message: string; exitCode: number } | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof err.code !== 'string') return undefined;
  const dest = (err as { dest?: string }).dest;
  const where = err.path ? `${err.path}${dest ? ` -> ${dest}` : ''}` : undefined;
  if (SYSTEM_ERRORS[err.code]) {
    return { message: `${err.syscall ?? 'i/o'} ${where ?? ''}: ${SYSTEM_ERRORS[err.code]} (${err.code}). Nothing partial was kept.`.replace(/ {2}/g, ' '), exitCode: EXIT_CODES.system };
  }
  if (PATH_ERRORS[err.code] && where) {
    return { message: `${where}: ${PATH_ERRORS[err.code]} (${err.code}, ${err.syscall ?? 'i/o'}). Check the path.`, exitCode: EXIT_CODES.user };
  }
  return undefined;
}
