/**
 * What each phase journals when it ends: one type per phase, which the engine
 * writes from what the step returned, and the schema that checks it when the
 * journal is read back. The schemas name the fields kernel-leap, its report and
 * the Ansible role read; anything else a step returns is kept as written (plan's
 * summary is also for people), so a journal never loses a field by being read.
 */
// zod/mini, as the config's schema: the boot-time restore reads journals, and starts faster without the classic API.
import * as z from 'zod/mini';

import type { PhaseName } from './phase-table.js';

const count = z.number();
const texts = z.array(z.string());

const endpoint = z.looseObject({ ip: z.string(), port: count });
/** A TCP connection of the tree: its lock rules are dropped by these ends. */
const connection = z.looseObject({ local: endpoint, peer: endpoint });
/** What the kexec ends that the leap does not carry (steps/plan/losses.ts). */
const loss = z.looseObject({
  kind: z.enum(['ssh-session', 'session-process', 'restored-tree', 'not-a-session']),
  pid: count,
  user: z.string(),
  tty: z.string(),
  cmdline: z.string(),
  level: z.enum(['warn', 'fail']),
  why: z.optional(z.string()),
});
const verdict = z.enum(['go', 'no-go']);

/** Each phase's output. The `report` phase journals none: the report is report.json. */
export const PHASE_OUTPUTS = {
  plan: z.looseObject({
    rootPid: count,
    pids: z.array(count),
    verdict,
    connections: z.array(connection),
    ptys: z.array(count),
    leftBehind: z.array(loss),
  }),
  rehearse: z.looseObject({
    verdict,
    reasons: texts,
    hint: z.optional(z.string()),
    freezeMs: z.optional(count),
    imagesBytes: z.optional(count),
  }),
  pre: z.looseObject({ command: z.string(), exitCode: count, durationMs: count }),
  load: z.looseObject({
    from: z.string(),
    to: z.string(),
    vmlinuz: z.string(),
    initrd: z.string(),
    /** The new kernel's command line: it names the leap, so its boot knows it is the leap's. */
    cmdline: z.string(),
    /** Why this kernel: named by --kernel or [kexec] kernel, or the newest installed (after --pre). */
    why: z.optional(z.string()),
  }),
  prepare: z.looseObject({
    units: texts,
    artefacts: texts,
    /** This boot's clock minus the RTC. */
    clockOffsetMs: z.optional(count),
  }),
  /** `settled` instead of the figures when criu finished the dump after the worker ended. */
  dump: z.looseObject({
    durationMs: z.optional(count),
    imagesBytes: z.optional(count),
    settled: z.optional(z.string()),
  }),
  kexec: z.looseObject({ bootedKernel: z.string() }),
  restore: z.looseObject({
    rootPidHost: count,
    rootPidInNs: count,
    criuPid: count,
    scope: z.string(),
    nsenter: z.string(),
    ptyRemaps: z.array(z.looseObject({ from: count, to: count })),
    fifos: texts,
    socketDirs: texts,
    degraded: texts,
    rulesRemovedAfterRestore: count,
    clockOffsetMs: z.optional(count),
  }),
  cleanup: z.looseObject({
    removed: texts,
    failed: z.array(z.looseObject({ path: z.string(), error: z.string() })),
  }),
  report: z.looseObject({}),
  upload: z.looseObject({
    bucket: z.optional(z.string()),
    prefix: z.optional(z.string()),
    keys: texts,
    skipped: z.optional(z.string()),
  }),
} satisfies Record<PhaseName, z.ZodMiniType>;

/**
 * As read back, every field may be missing: a run journaled by an older build of
 * the same schema (one pending at boot after `--pre` upgraded kernel-leap itself)
 * lacks the fields added since. A field present is always of its type.
 */
export const RECORDED_OUTPUTS = {
  plan: z.partial(PHASE_OUTPUTS.plan),
  rehearse: z.partial(PHASE_OUTPUTS.rehearse),
  pre: z.partial(PHASE_OUTPUTS.pre),
  load: z.partial(PHASE_OUTPUTS.load),
  prepare: z.partial(PHASE_OUTPUTS.prepare),
  dump: z.partial(PHASE_OUTPUTS.dump),
  kexec: z.partial(PHASE_OUTPUTS.kexec),
  restore: z.partial(PHASE_OUTPUTS.restore),
  cleanup: z.partial(PHASE_OUTPUTS.cleanup),
  report: z.partial(PHASE_OUTPUTS.report),
  upload: z.partial(PHASE_OUTPUTS.upload),
} satisfies Record<PhaseName, z.ZodMiniType>;

/** A phase's output as read back from the journal. */
export type RecordedOutput<P extends PhaseName> = z.output<(typeof RECORDED_OUTPUTS)[P]>;

/**
 * A phase's output as the engine writes it: every field its schema names, and
 * nothing unnamed required. Loose schemas type extra fields as an index
 * signature, which a step's interface (having none) would not match; it goes.
 */
export type PhaseOutput<P extends PhaseName> = Declared<z.input<(typeof PHASE_OUTPUTS)[P]>>;

type Declared<T> = T extends readonly (infer E)[]
  ? readonly Declared<E>[]
  : T extends object
    ? { [K in keyof T as string extends K ? never : K]: Declared<T[K]> }
    : T;
