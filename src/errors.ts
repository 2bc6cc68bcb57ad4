/**
 * One error type for everything the user can act on. `code` is stable (tests and
 * --json consumers match on it), `hint` says what to do next. Only cli/main.ts
 * catches it and maps `exit` to the process exit code.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  noGo: 3,
  /** `runs --since`: a run is still under way (its wait ran out). */
  underWay: 4,
  toolMissing: 5,
  notRoot: 6,
  config: 7,
  restoreFailed: 8,
  /** Internal: `upgrade` handed the wait over to the launcher shell (templates/launcher.sh.hbs). */
  handoff: 75,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface LeapErrorOptions {
  hint?: string;
  cause?: unknown;
  exit?: ExitCodeValue;
  details?: Record<string, unknown>;
}

export class LeapError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exit: ExitCodeValue;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: LeapErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'LeapError';
    this.code = code;
    this.hint = options.hint;
    this.exit = options.exit ?? ExitCode.failure;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isLeapError(error: unknown): error is LeapError {
  return error instanceof LeapError;
}
