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
import { basename, join } from 'node:path';

import { ExitCode, LeapError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { assertTransition, type PhaseName, PHASES, type PhaseStatus } from './phase-table.js';

export const JOURNAL_SCHEMA = 1;

export interface PhaseRecord {
  status: PhaseStatus;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  outputs?: Record<string, unknown>;
  error?: { code: string; message: string; hint?: string };
}

/** A change made to the system that cleanup or a post-mortem must know about. */
export interface ChangeRecord {
  at: string;
  kind: string;
  path: string;
  detail?: string;
}

export interface JournalData {
  schema: number;
  runId: string;
  host: string;
  command: string;
  createdAt: string;
  phases: Record<PhaseName, PhaseRecord>;
  /** Files installed for the next boot; all removed after the restore, whatever the outcome. */
  artefacts: string[];
  changes: ChangeRecord[];
  /** Named instants of the timeline (freeze, kexec, gates, restore, unlock). */
  marks: Record<string, string>;
}

export interface RunPaths {
  dir: string;
  journal: string;
  images: string;
  logs: string;
  commandLog: string;
}

export function runPaths(stateDir: string, runId: string): RunPaths {
  const dir = join(stateDir, 'runs', runId);
  return {
    dir,
    journal: join(dir, 'journal.json'),
    images: join(dir, 'images'),
    logs: join(dir, 'logs'),
    commandLog: join(dir, 'logs', 'commands.jsonl'),
  };
}

export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
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
    const phases = Object.fromEntries(PHASES.map((p) => [p, { status: 'pending' }])) as Record<
      PhaseName,
      PhaseRecord
    >;
    const data: JournalData = {
      schema: JOURNAL_SCHEMA,
      runId,
      host: hostname(),
      command,
      createdAt: new Date().toISOString(),
      phases,
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

  /** A text output of a phase, undefined when absent or not text. */
  outputText(name: PhaseName, key: string): string | undefined {
    const value = this.data.phases[name].outputs?.[key];
    return typeof value === 'string' ? value : undefined;
  }

  start(name: PhaseName): void {
    const record = this.data.phases[name];
    assertTransition(name, record.status, 'running');
    this.data.phases[name] = { status: 'running', startedAt: new Date().toISOString() };
    this.save();
  }

  finish(name: PhaseName, outputs?: Record<string, unknown>): void {
    this.end(name, 'done', { outputs });
  }

  fail(name: PhaseName, error: { code: string; message: string; hint?: string }): void {
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
    writeFileAtomic(this.paths.journal, `${JSON.stringify(this.data, null, 2)}\n`);
  }
}

/** A run's journal for a listing: undefined when it is missing, torn or of another schema, so one bad run does not hide the rest. */
export function parseJournalFile(path: string): JournalData | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return parseJournal(readFileSync(path, 'utf8'), path);
  } catch (error) {
    if (
      error instanceof LeapError &&
      (error.code === 'JOURNAL_CORRUPT' || error.code === 'JOURNAL_SCHEMA')
    )
      return undefined;
    throw error;
  }
}

export function parseJournal(text: string, source: string): JournalData {
  let data: JournalData;
  try {
    data = JSON.parse(text) as JournalData;
  } catch (cause) {
    throw new LeapError('JOURNAL_CORRUPT', `${source} is not valid JSON`, {
      cause,
      hint: 'the run cannot be resumed; inspect the file by hand',
    });
  }
  if (data.schema !== JOURNAL_SCHEMA) {
    throw new LeapError(
      'JOURNAL_SCHEMA',
      `${source} has schema ${String(data.schema)}, this kernel-leap reads schema ${JOURNAL_SCHEMA}`,
      {
        hint: 'use the kernel-leap version that wrote the run',
      },
    );
  }
  return data;
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

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
