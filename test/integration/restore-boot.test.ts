/**
 * restore-boot.sh, the restore unit's ExecStart, run for real with dash: on any
 * boot it runs the take first (take-pending.sh; its crash windows are
 * take-pending.test.ts's), runs the restore-fast.sh of every run it took side by
 * side (the first alone until its gates are open), one that fails stopping none
 * of the others, skips a run without one, holds the one window scaling is off in
 * around them all, resumes the trees once every run was restored by its own (else
 * Node resumes them), and always hands over to Node last, which reads the runs as
 * this boot's. What it writes is owner-only whatever the umask it starts with.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  renderRestoreBootScript,
  renderRestoreScript,
  type RestoreScriptContext,
} from '../../src/render/artefacts.js';
import { bootRuns } from '../../src/state/pending.js';
import { BOOT_SCRIPT, readRestoreRecord } from '../../src/state/restore-record.js';
import { writeTakeScript } from '../../src/steps/restore/take.js';

const BOOT_ID = '6f1c2d3e-0000-4000-8000-000000000001';

function bootBed(runs: Record<string, string | undefined>) {
  const root = mkdtempSync(join(tmpdir(), "kl boot it's $X-"));
  const stateDir = join(root, 'state');
  // The fixtures' own scripts quote it plainly: the odd characters are for the script under test.
  const log = join(mkdtempSync(join(tmpdir(), 'kl-boot-log-')), 'log');
  for (const [run, script] of Object.entries(runs)) {
    mkdirSync(join(stateDir, 'runs', run), { recursive: true });
    if (script !== undefined)
      writeFileSync(
        join(stateDir, 'runs', run, 'restore-fast.sh'),
        `echo ${run} >> '${log}'\n${script}\n`,
      );
  }
  writeFileSync(
    join(stateDir, 'pending'),
    Object.keys(runs)
      .map((r) => `${r}\n`)
      .join(''),
  );
  writeFileSync(join(root, 'boot_id'), `${BOOT_ID}\n`);
  mkdirSync(join(root, 'proc/sys/net/ipv4'), { recursive: true });
  const scaling = join(root, 'proc/sys/net/ipv4/tcp_window_scaling');
  writeFileSync(scaling, '1\n');
  const node = join(root, 'node');
  writeFileSync(node, `#!/bin/sh\necho "node $*" >> '${log}'\n`, { mode: 0o755 });
  // Read by /bin/sh, as the rendered resume-trees.sh is.
  const resume = join(root, 'resume trees.sh');
  writeFileSync(resume, `echo "resume $#" >> '${log}'\n`);
  const script = join(root, 'restore-boot.sh');
  writeFileSync(
    script,
    renderRestoreBootScript({
      stateDir,
      node,
      bundle: '/opt/kl $1.mjs',
      takeScript: writeTakeScript(stateDir, { procBootId: join(root, 'boot_id') }),
      resumeScript: resume,
      procSys: join(root, 'proc/sys'),
      savedSysctls: join(root, 'saved'),
    }),
  );
  // Started with an open umask, as nothing guarantees the unit's: what it writes must still be root's alone.
  const run = () => {
    const result = spawnSync('/bin/sh', ['-c', 'umask 022 && exec /bin/sh "$0"', script], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  };
  return { root, stateDir, scaling, run };
}

describe('restore-boot.sh', () => {
  it("on any boot (the leap's kexec or not): takes the runs, runs every fast script, one failing or not, then execs Node", () => {
    const bed = bootBed({
      r1: 'exit 0',
      holder: undefined,
      r3: 'exit 1',
      r4: 'exit 0',
    });
    const log = bed.run();
    // The first goes alone through its gates; the others beside each other, in any order.
    expect(log[0]).toBe('r1');
    expect(log.slice(1, 3).sort()).toEqual(['r3', 'r4']);
    // One failed: no resume here, Node resumes after its last run.
    expect(log.slice(3)).toEqual(['node /opt/kl $1.mjs restore --boot']);
    // The window was held around them and closed after: the machine's value, nothing saved.
    expect(readFileSync(bed.scaling, 'utf8')).toBe('1\n');
    expect(readdirSync(join(bed.root, 'saved'))).toEqual([]);
    expect(existsSync(join(bed.stateDir, 'pending'))).toBe(false);
    expect(readFileSync(join(bed.stateDir, 'restoring'), 'utf8')).toBe('r1\nholder\nr3\nr4\n');
    expect(readFileSync(join(bed.stateDir, 'restoring.boot'), 'utf8')).toBe(
      `${BOOT_ID}\nr1\nholder\nr3\nr4\n`,
    );
    for (const file of ['restoring', 'restoring.boot'])
      expect(statSync(join(bed.stateDir, file)).mode & 0o777, file).toBe(0o600);
    // Node's restore then reads them as this boot's: fresh, none cut short.
    expect(bootRuns(bed.stateDir, BOOT_ID)).toEqual({
      fresh: ['r1', 'holder', 'r3', 'r4'],
      cutShort: [],
    });
  });

  it('resumes every tree before Node when each run was restored by its own restore-fast.sh', () => {
    const bed = bootBed({ r1: 'exit 0', r2: 'exit 0' });
    // No run named: the resume takes the restoring list, as the unit's ExecStopPost= does.
    expect(bed.run()).toEqual(['r1', 'r2', 'resume 0', 'node /opt/kl $1.mjs restore --boot']);
  });

  it('with no run of its own to restore, opens no window and leaves every run to Node', () => {
    const bed = bootBed({ holder: undefined });
    writeFileSync(bed.scaling, '0\n');
    expect(bed.run()).toEqual(['node /opt/kl $1.mjs restore --boot']);
    expect(existsSync(join(bed.root, 'saved'))).toBe(false);
  });

  it('the same list at a later boot was cut short', () => {
    const bed = bootBed({ r1: 'exit 0' });
    bed.run();
    expect(bootRuns(bed.stateDir, 'a later boot')).toEqual({ fresh: [], cutShort: ['r1'] });
  });

  it("over an earlier boot's list (cut short), restores only the runs it took", () => {
    const settling = bootBed({ r1: 'exit 0' });
    writeFileSync(join(settling.stateDir, 'restoring'), 'r0\n');
    writeFileSync(join(settling.stateDir, 'restoring.boot'), 'an-earlier-boot\nr0\n');
    expect(settling.run()).toEqual(['r1', 'resume 0', 'node /opt/kl $1.mjs restore --boot']);
    expect(existsSync(join(settling.stateDir, 'pending'))).toBe(false);
    expect(bootRuns(settling.stateDir, BOOT_ID)).toEqual({ fresh: ['r1'], cutShort: ['r0'] });
  });

  it('with nothing pending (a boot after a cut-short one), runs no restore, only Node', () => {
    const settling = bootBed({ r1: 'exit 0' });
    rmSync(join(settling.stateDir, 'pending'));
    writeFileSync(join(settling.stateDir, 'restoring'), 'r1\n');
    writeFileSync(join(settling.stateDir, 'restoring.boot'), 'an-earlier-boot\nr1\n');
    expect(settling.run()).toEqual(['node /opt/kl $1.mjs restore --boot']);
    expect(bootRuns(settling.stateDir, BOOT_ID)).toEqual({ fresh: [], cutShort: ['r1'] });
  });
});

/**
 * The boot as it runs: restore-boot.sh with each run's restore-fast.sh rendered
 * from the restore script, criu a stand-in that notes when it starts and ends
 * and what window scaling is then, sleeps, and restores its tree (its pid in the
 * pid file, as criu's action script writes it) or ends without.
 */
function parallelBed(runs: Record<string, { seconds: number; restores: boolean }>) {
  const bed = bootBed(Object.fromEntries(Object.keys(runs).map((r) => [r, undefined])));
  const seen = join(bed.root, 'criu-seen');
  const saved = join(bed.root, 'saved');
  const criu = join(bed.root, 'fake-criu');
  // Its paths as arguments: the bed's root holds a quote and a $ on purpose.
  writeFileSync(
    criu,
    [
      '#!/bin/sh',
      '# RUN PID_FILE SECONDS RESTORES SEEN SCALING SAVED',
      'window() { echo "$(cat "$6") $(cat "$7/net.ipv4.tcp_window_scaling" 2> /dev/null)"; }',
      'echo "start $1 $(date +%s%3N) $(window "$@")" >> "$5"',
      'sleep "$3"',
      'echo "end $1 $(date +%s%3N) $(window "$@")" >> "$5"',
      '[ "$4" = no ] || echo $$ > "$2"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  for (const [run, { seconds, restores }] of Object.entries(runs)) {
    const dir = join(bed.stateDir, 'runs', run);
    const pidFile = join(dir, 'restored-pid');
    const context: RestoreScriptContext = {
      runId: run,
      record: join(dir, BOOT_SCRIPT.record),
      pidFile,
      procBootId: join(bed.root, 'boot_id'),
      rulesFile: join(bed.root, 'no-rules.v4'),
      marker: join(bed.root, 'rules-loaded'),
      addresses: [],
      earlyAddresses: [],
      udevData: join(bed.root, 'udev'),
      addressTimeoutS: 5,
      restoreTimeoutS: 20,
      ptys: [],
      fifos: [],
      socketDirs: [],
      reopenedFiles: [],
      unscaled: true,
      procSys: join(bed.root, 'proc/sys'),
      savedSysctls: saved,
      argv: [
        criu,
        run,
        pidFile,
        String(seconds),
        restores ? 'yes' : 'no',
        seen,
        bed.scaling,
        saved,
      ],
      criuLog: join(dir, 'restore.log'),
      pathsLock: join(bed.root, 'run/paths.lock'),
    };
    writeFileSync(join(dir, BOOT_SCRIPT.script), renderRestoreScript(context));
  }
  /** What each stand-in criu saw, by run: when it started and ended, and the window then (scaling, saved value). */
  const criuSeen = () => {
    const byRun = new Map<string, { start: number; end: number; windows: string[] }>();
    for (const line of readFileSync(seen, 'utf8').trim().split('\n')) {
      const [what, run, at, ...window] = line.split(' ');
      const entry = byRun.get(run as string) ?? { start: NaN, end: NaN, windows: [] };
      entry[what as 'start' | 'end'] = Number(at);
      entry.windows.push(window.join(' '));
      byRun.set(run as string, entry);
    }
    return byRun;
  };
  const record = (run: string) =>
    readRestoreRecord(join(bed.stateDir, 'runs', run), BOOT_SCRIPT, BOOT_ID);
  return { ...bed, saved, criuSeen, record };
}

describe('restore-boot.sh with the restore scripts', () => {
  it('restores the runs side by side in one window, put back once after the last criu, and a failed run stops no other', () => {
    const bed = parallelBed({
      r1: { seconds: 0.6, restores: true },
      r2: { seconds: 1, restores: false },
      r3: { seconds: 1.6, restores: true },
    });
    const log = bed.run();
    expect(log.at(-1)).toBe('node /opt/kl $1.mjs restore --boot');
    // r2 failed: Node resumes the others after its last run, not this script.
    expect(log).not.toContain('resume 0');
    const seen = bed.criuSeen();
    expect([...seen.keys()].sort()).toEqual(['r1', 'r2', 'r3']);
    // Side by side: every criu started before any ended.
    const starts = [...seen.values()].map((s) => s.start);
    const ends = [...seen.values()].map((s) => s.end);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
    // Scaling off and the machine's value saved from before the first criu to after
    // the last one: no restore closed the window while another's criu ran.
    for (const s of seen.values()) expect(s.windows).toEqual(['0 1', '0 1']);
    expect(readFileSync(bed.scaling, 'utf8')).toBe('1\n');
    expect(readdirSync(bed.saved)).toEqual([]);
    expect(bed.record('r1')?.outcome).toBe('restored');
    expect(bed.record('r2')?.outcome).toBe('ended');
    expect(bed.record('r3')?.outcome).toBe('restored');
    // The others waited for r1's gates from the unit's start too: each marks that one instant.
    const unitStarts = ['r1', 'r2', 'r3'].map((r) =>
      bed.record(r)?.marks.get('restoreUnitStart')?.getTime(),
    );
    expect(new Set(unitStarts).size).toBe(1);
    expect(unitStarts[0]).toBeLessThan(Math.min(...starts));
  });

  it('resumes the trees itself when every run was restored side by side', () => {
    const bed = parallelBed({
      r1: { seconds: 0.3, restores: true },
      r2: { seconds: 0.3, restores: true },
    });
    expect(bed.run().slice(-2)).toEqual(['resume 0', 'node /opt/kl $1.mjs restore --boot']);
    expect(readFileSync(bed.scaling, 'utf8')).toBe('1\n');
  });
});
