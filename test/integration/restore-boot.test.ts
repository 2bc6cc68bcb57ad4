/**
 * restore-boot.sh, the restore unit's ExecStart, run for real with dash: on any
 * boot it runs the take first (take-pending.sh; its crash windows are
 * take-pending.test.ts's), runs the restore-fast.sh of each run it took, in
 * order until one fails, skips a run without one, resumes the trees once every
 * run was restored by its own (else Node resumes them), and always hands over to
 * Node last, which reads the runs as this boot's. What it writes is owner-only
 * whatever the umask it starts with.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { renderRestoreBootScript } from '../../src/render/artefacts.js';
import { bootRuns } from '../../src/state/pending.js';
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
  return { stateDir, run };
}

describe('restore-boot.sh', () => {
  it("on any boot (the leap's kexec or not): takes the runs, runs their fast scripts until one fails, then execs Node", () => {
    const bed = bootBed({
      r1: 'exit 0',
      holder: undefined,
      r3: 'exit 1',
      r4: 'exit 0',
    });
    expect(bed.run()).toEqual(['r1', 'r3', 'node /opt/kl $1.mjs restore --boot']);
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
