/**
 * The run journal: `<state>/runs/<id>/journal.json` (0600) in a 0700 run dir with
 * images/ and logs/, and a `latest` symlink naming the current run. Every change is
 * written atomically, so a later boot (or `status`) always reads a whole journal.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

import * as z from 'zod/mini';

import { ExitCode, LeapError } from '../errors.js';
import { jsonText } from '../tools/printable.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { type PhaseOutput, RECORDED_OUTPUTS, type RecordedOutput } from './phase-outputs.js';
import { assertTransition, type PhaseName } from './phase-table.js';

export const JOURNAL_SCHEMA = 1;

const phaseError = z.looseObject({
  code: z.string(),
  message: z.string(),
  hint: z.optional(z.string()),
});

function phaseRecord<O extends z.ZodMiniType>(outputs: O) {
  return z.looseObject({
    status: z.enum(['pending', 'running', 'done', 'failed', 'skipped']),
    startedAt: z.optional(z.string()),
    endedAt: z.optional(z.string()),
    durationMs: z.optional(z.number()),
    outputs: z.optional(outputs),
    error: z.optional(phaseError),
  });
}

/** A change made to the system that cleanup or a post-mortem must know about. */
const changeRecord = z.looseObject({
  at: z.string(),
  kind: z.string(),
  path: z.string(),
  detail: z.optional(z.string()),
});

/** journal.json; unknown fields are kept as read, so a journal never loses one by being opened. */
const journalSchema = z.looseObject({
  schema: z.number(),
  runId: z.string(),
  host: z.string(),
  command: z.string(),
  createdAt: z.string(),
  phases: z.looseObject({
    plan: phaseRecord(RECORDED_OUTPUTS.plan),
    rehearse: phaseRecord(RECORDED_OUTPUTS.rehearse),
    pre: phaseRecord(RECORDED_OUTPUTS.pre),
    load: phaseRecord(RECORDED_OUTPUTS.load),
    prepare: phaseRecord(RECORDED_OUTPUTS.prepare),
    dump: phaseRecord(RECORDED_OUTPUTS.dump),
    kexec: phaseRecord(RECORDED_OUTPUTS.kexec),
    restore: phaseRecord(RECORDED_OUTPUTS.restore),
    cleanup: phaseRecord(RECORDED_OUTPUTS.cleanup),
    report: phaseRecord(RECORDED_OUTPUTS.report),
    upload: phaseRecord(RECORDED_OUTPUTS.upload),
  }),
  /** Files installed for the next boot; all removed after the restore, whatever the outcome. */
  artefacts: z.array(z.string()),
  changes: z.array(changeRecord),
  /** Named instants of the timeline (freeze, kexec, gates, restore, unlock). */
  marks: z.record(z.string(), z.string()),
});

export type JournalData = z.output<typeof journalSchema>;
export type PhaseRecord = JournalData['phases'][PhaseName];
export type ChangeRecord = z.output<typeof changeRecord>;
type PhaseError = z.output<typeof phaseError>;
/** The phases by name, each with its own output's type (for a name known only as a type parameter). */
type RecordedPhases = { [P in PhaseName]: { outputs?: RecordedOutput<P> | undefined } };

/**
 * What a step may write in its run's journal while it works, each saved at once
 * so that a kill cannot lose it: the instants of its timeline, the changes it
 * makes to the system, and the files it installs. A phase's status and output
 * are the engine's to write (engine/step.ts).
 */
export type StepJournal = Pick<
  Journal,
  'runId' | 'paths' | 'artefacts' | 'mark' | 'recordChange' | 'addArtefact'
>;

export interface RunPaths {
  dir: string;
  journal: string;
  images: string;
  /** The rehearsal's scratch images: removed by the rehearsal, left by a worker killed during it. */
  rehearsal: string;
  logs: string;
  commandLog: string;
}

export function runPaths(stateDir: string, runId: string): RunPaths {
  const dir = join(stateDir, 'runs', runId);
  return {
    dir,
    journal: join(dir, 'journal.json'),
    images: join(dir, 'images'),
    rehearsal: join(dir, 'rehearsal'),
    logs: join(dir, 'logs'),
    commandLog: join(dir, 'logs', 'commands.jsonl'),
  };
}

/** A run id starts with its start's stamp, UTC to the second (`date -u +%Y%m%dT%H%M%SZ`): ids sort as the runs started. */
export function runStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function newRunId(now = new Date()): string {
  return `${runStamp(now)}-${Math.random().toString(16).slice(2, 6)}`;
}

export class Journal {
  readonly paths: RunPaths;
  private data: JournalData;

  private constructor(paths: RunPaths, data: JournalData) {
    this.paths = paths;
    this.data = data;
  }

  static create(stateDir: string, command: string, runId = newRunId()): Journal {
    const paths = runPaths(stateDir, runId);
    for (const dir of [stateDir, join(stateDir, 'runs'), paths.dir, paths.images, paths.logs])
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    const data: JournalData = {
      schema: JOURNAL_SCHEMA,
      runId,
      host: hostname(),
      command,
      createdAt: new Date().toISOString(),
      phases: pendingPhases(),
      artefacts: [],
      changes: [],
      marks: {},
    };
    const journal = new Journal(paths, data);
    journal.save();
    pointLatest(stateDir, runId);
    return journal;
  }

  static open(stateDir: string, runId?: string): Journal {
    const id = runId ?? latestRunId(stateDir);
    const paths = runPaths(stateDir, id);
    if (!existsSync(paths.journal)) {
      throw new LeapError('RUN_NOT_FOUND', `no journal for run ${id} in ${stateDir}`, {
        hint: `list runs with: ls ${stateDir}/runs (kernel-leap status shows the latest)`,
        exit: ExitCode.usage,
      });
    }
    return new Journal(paths, parseJournal(readFileSync(paths.journal, 'utf8'), paths.journal));
  }

  get runId(): string {
    return this.data.runId;
  }

  get snapshot(): Readonly<JournalData> {
    return structuredClone(this.data);
  }

  phase(name: PhaseName): Readonly<PhaseRecord> {
    return this.data.phases[name];
  }

  /** What a phase journaled when it ended; undefined before. */
  output<P extends PhaseName>(name: P): RecordedOutput<P> | undefined {
    const phases: RecordedPhases = this.data.phases;
    return phases[name].outputs;
  }

  /** Files installed for the next boot so far. */
  get artefacts(): readonly string[] {
    return [...this.data.artefacts];
  }

  start(name: PhaseName): void {
    const record = this.data.phases[name];
    assertTransition(name, record.status, 'running');
    this.data.phases[name] = { status: 'running', startedAt: new Date().toISOString() };
    this.save();
  }

  finish<P extends PhaseName>(name: P, outputs?: PhaseOutput<P>): void {
    this.end(name, 'done', { outputs });
  }

  fail(name: PhaseName, error: PhaseError): void {
    this.end(name, 'failed', { error });
  }

  skip(name: PhaseName): void {
    assertTransition(name, this.data.phases[name].status, 'skipped');
    this.data.phases[name] = { status: 'skipped' };
    this.save();
  }

  mark(name: string, at = new Date()): void {
    this.data.marks[name] = at.toISOString();
    this.save();
  }

  addArtefact(path: string): void {
    if (!this.data.artefacts.includes(path)) this.data.artefacts.push(path);
    this.save();
  }

  recordChange(kind: string, path: string, detail?: string): void {
    this.data.changes.push({
      at: new Date().toISOString(),
      kind,
      path,
      ...(detail ? { detail } : {}),
    });
    this.save();
  }

  private end(name: PhaseName, status: 'done' | 'failed', extra: Partial<PhaseRecord>): void {
    const record = this.data.phases[name];
    assertTransition(name, record.status, status);
    const endedAt = new Date();
    const durationMs = record.startedAt
      ? endedAt.getTime() - Date.parse(record.startedAt)
      : undefined;
    this.data.phases[name] = {
      ...record,
      ...stripUndefined(extra),
      status,
      endedAt: endedAt.toISOString(),
      ...(durationMs !== undefined ? { durationMs } : {}),
    };
    this.save();
  }

  private save(): void {
    writeFileAtomic(this.paths.journal, `${jsonText(this.data, 2)}\n`);
  }
}

/** A run's journal for a listing: undefined when it is missing, torn, invalid or of another schema, so one bad run does not hide the rest. */
export function parseJournalFile(path: string): JournalData | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return parseJournal(readFileSync(path, 'utf8'), path);
  } catch (error) {
    if (error instanceof LeapError && UNREADABLE.has(error.code)) return undefined;
    throw error;
  }
}

const UNREADABLE = new Set(['JOURNAL_CORRUPT', 'JOURNAL_SCHEMA', 'JOURNAL_INVALID']);

/** `path`: the journal's file, `<state>/runs/<id>/journal.json`; errors name the run by its dir. */
export function parseJournal(text: string, path: string): JournalData {
  const runId = basename(dirname(path));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new LeapError('JOURNAL_CORRUPT', `${path} is not valid JSON`, {
      cause,
      hint: 'the run cannot be resumed; inspect the file by hand',
    });
  }
  const schema =
    typeof raw === 'object' && raw !== null && 'schema' in raw ? raw.schema : undefined;
  if (schema !== JOURNAL_SCHEMA) {
    throw new LeapError(
      'JOURNAL_SCHEMA',
      `${path} has schema ${String(schema)}, this kernel-leap reads schema ${JOURNAL_SCHEMA}`,
      {
        hint: 'use the kernel-leap version that wrote the run',
      },
    );
  }
  const parsed = journalSchema.safeParse(raw);
  if (!parsed.success) throw invalidField(runId, path, raw, parsed.error.issues);
  return parsed.data;
}

/** The first field that is not of its type, by its path in the file and what it holds. */
function invalidField(
  runId: string,
  path: string,
  raw: unknown,
  issues: readonly z.core.$ZodIssue[],
): LeapError {
  const issue = issues[0];
  const field = fieldName(issue?.path ?? []);
  const found = describeValue(valueAt(raw, issue?.path ?? []));
  const wanted =
    issue?.code === 'invalid_type'
      ? issue.expected
      : issue?.code === 'invalid_value'
        ? `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
        : (issue?.message ?? 'another value');
  return new LeapError(
    'JOURNAL_INVALID',
    `run ${runId}: journal field ${field} is ${found}, expected ${wanted} (${path})`,
    {
      hint: `the journal was edited or written by another kernel-leap; correct ${field} in ${path}, or use the kernel-leap version that wrote the run`,
    },
  );
}

function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = Reflect.get(value, key);
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

export function latestRunId(stateDir: string): string {
  const link = join(stateDir, 'latest');
  try {
    return basename(readlinkSync(link));
  } catch {
    throw new LeapError('NO_RUNS', `no run recorded in ${stateDir}`, {
      hint: 'start one with `kernel-leap upgrade` or `kernel-leap rehearse`',
      exit: ExitCode.usage,
    });
  }
}

/** Swap the symlink atomically: make it under a temp name, then rename over `latest`. */
function pointLatest(stateDir: string, runId: string): void {
  const temp = join(stateDir, `.latest.${process.pid}`);
  symlinkSync(join('runs', runId), temp);
  renameSync(temp, join(stateDir, 'latest'));
  fsyncDir(stateDir);
}

function pendingPhases(): JournalData['phases'] {
  const pending = () => ({ status: 'pending' as const });
  return {
    plan: pending(),
    rehearse: pending(),
    pre: pending(),
    load: pending(),
    prepare: pending(),
    dump: pending(),
    kexec: pending(),
    restore: pending(),
    cleanup: pending(),
    report: pending(),
    upload: pending(),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
