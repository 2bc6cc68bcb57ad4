/**
 * The only module that starts processes. Every external command goes through
 * `Runner.run`, which takes an argv array (never a shell string), logs one JSONL
 * event per command with secrets masked, and turns failures into LeapErrors.
 */
import { appendFileSync, createReadStream } from 'node:fs';

import { execa } from 'execa';

import { ExitCode, LeapError } from '../errors.js';
import { packageFor } from './packages.js';
import { jsonText } from './printable.js';

export interface RunRequest {
  file: string;
  args?: readonly string[];
  timeoutMs?: number;
  input?: string;
  /** A file's bytes from `offset` on as stdin, streamed (an initrd is tens of MB). */
  inputFrom?: { path: string; offset: number };
  /** Exit codes that count as success (default [0]). */
  okCodes?: readonly number[];
  /** Strings masked as *** in the log and in error messages. */
  secrets?: readonly string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface RunResult {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface Runner {
  run(request: RunRequest): Promise<RunResult>;
  /** The same runner, with each command's JSONL event going to a run's `file`; each run passes its own. */
  loggingTo(file: string): Runner;
}

const TAIL_CHARS = 2000;

export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  return secrets.filter((s) => s.length > 0).reduce((out, s) => out.split(s).join('***'), text);
}

export function tail(text: string, max = TAIL_CHARS): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

export interface RunEvent {
  ts: string;
  argv: string[];
  exitCode: number;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
  error?: string;
}

/** Appends one JSON line per command to `logFile`; without one (no run yet), logs nothing. */
export class ExecaRunner implements Runner {
  private readonly logFile: string | undefined;

  constructor(logFile?: string) {
    this.logFile = logFile;
  }

  loggingTo(file: string): Runner {
    return new ExecaRunner(file);
  }

  async run(request: RunRequest): Promise<RunResult> {
    const argv = [request.file, ...(request.args ?? [])];
    const started = performance.now();
    // Own process group, so a timeout kills grandchildren too: one that keeps our
    // stdout pipe open would otherwise hold the call past its deadline.
    const child = execa(request.file, request.args ?? [], {
      reject: false,
      detached: true,
      input: request.input,
      env: request.env,
      cwd: request.cwd,
      stdin: stdinOf(request),
      stripFinalNewline: false,
    });
    const timer =
      request.timeoutMs === undefined
        ? undefined
        : setTimeout(() => killGroup(child.pid), request.timeoutMs);
    const result = await child.finally(() => clearTimeout(timer));
    const timedOut =
      timer !== undefined &&
      result.signal === 'SIGKILL' &&
      performance.now() - started >= (request.timeoutMs ?? 0);
    const outcome: RunResult = {
      argv,
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      durationMs: Math.round(performance.now() - started),
    };
    const failure = describeFailure({ ...result, timedOut }, request);
    this.log(outcome, request.secrets, failure);
    if (failure) throw toRunError(outcome, request, failure, result.code);
    return outcome;
  }

  private log(result: RunResult, secrets: readonly string[] = [], error?: string): void {
    if (!this.logFile) return;
    const event: RunEvent = {
      ts: new Date().toISOString(),
      argv: result.argv.map((a) => maskSecrets(a, secrets)),
      exitCode: result.exitCode,
      durationMs: result.durationMs,
      stdoutTail: maskSecrets(tail(result.stdout), secrets),
      stderrTail: maskSecrets(tail(result.stderr), secrets),
      ...(error ? { error } : {}),
    };
    appendFileSync(this.logFile, `${jsonText(event)}\n`, { mode: 0o600 });
  }
}

function stdinOf(request: RunRequest) {
  if (request.inputFrom) return fileFrom(request.inputFrom.path, request.inputFrom.offset);
  return request.input === undefined ? 'ignore' : 'pipe';
}

/** execa takes a Node stream only with a file descriptor; an iterable of its chunks it takes. */
async function* fileFrom(path: string, start: number): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(path, { start })) yield chunk as Buffer;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

interface ExecaOutcome {
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  code?: string;
}

function describeFailure(result: ExecaOutcome, request: RunRequest): string | undefined {
  if (result.code === 'ENOENT') return 'not found';
  if (result.timedOut) return `timed out after ${request.timeoutMs} ms`;
  if (result.signal) return `killed by ${result.signal}`;
  // No exit code and no signal: the command never ran (EACCES, EPERM, E2BIG, ...).
  if (result.exitCode === undefined) return couldNotStart(result.code);
  const ok = request.okCodes ?? [0];
  return ok.includes(result.exitCode) ? undefined : `exited with ${result.exitCode}`;
}

const START_ERRORS: Record<string, string> = {
  EACCES:
    'permission denied (not executable by this user, or a directory on the way is not searchable)',
  EPERM: 'operation not permitted',
  E2BIG: 'its arguments are too long',
  ENOEXEC: 'not an executable this system can run',
};

function couldNotStart(code: string | undefined): string {
  const why = code === undefined ? undefined : (START_ERRORS[code] ?? code);
  return why === undefined ? 'could not start' : `could not start: ${why}`;
}

function toRunError(
  result: RunResult,
  request: RunRequest,
  failure: string,
  code?: string,
): LeapError {
  const shown = maskSecrets(result.argv.join(' '), request.secrets);
  if (code === 'ENOENT' || failure === 'not found') {
    const pkg = packageFor(request.file);
    return new LeapError('TOOL_MISSING', `${request.file} is not installed (running: ${shown})`, {
      hint: pkg
        ? `install it: apt-get install ${pkg}`
        : `install ${request.file} and make sure it is on PATH`,
      exit: ExitCode.toolMissing,
    });
  }
  const stderr = maskSecrets(tail(result.stderr.trim(), 600), request.secrets);
  // Its own code: a command that outran its deadline on a busy machine is not a broken one.
  const errorCode = failure.startsWith('timed out') ? 'COMMAND_TIMEOUT' : 'COMMAND_FAILED';
  return new LeapError(errorCode, `${shown} ${failure}${stderr ? `: ${stderr}` : ''}`, {
    hint: failure.startsWith('could not start')
      ? `check that ${request.file} is executable by this user, or rerun as root`
      : `see the command log for the full output`,
    details: {
      argv: result.argv.map((a) => maskSecrets(a, request.secrets)),
      exitCode: result.exitCode,
    },
  });
}
