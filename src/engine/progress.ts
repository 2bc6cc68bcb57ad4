/**
 * How the flows tell of their progress. The CLI implements it (text on a tty, or
 * JSON lines); the engine never imports the CLI.
 */
export interface ProgressEvent {
  phase: string;
  state: 'start' | 'done' | 'failed' | 'info';
  durationMs?: number;
  message?: string;
}

export interface ErrorEvent {
  code: string;
  message: string;
  hint?: string | undefined;
}

export interface Progress {
  progress(event: ProgressEvent): void;
  error(event: ErrorEvent): void;
  /** Also write each progress line as a file of its own in dir, for the launcher shell in the session to show. */
  mirrorTo(dir: string): void;
}
