/**
 * The floor's scripts for several sessions (scripts/bench-floor.ts), run by dash
 * with fake criu, unshare and ip on PATH and the floor's directory moved to a temp
 * dir: the trees are dumped one after the other, and restored one after the other,
 * each once the one before has resumed; a tree whose restore fails does not stop
 * the next.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  actionScript,
  FLOOR_DIR,
  floorPathMarks,
  type FloorPlan,
  leapScript,
  parseFloorMarks,
  restoreScript,
} from '../../scripts/bench-floor.js';
import type { PathMarks } from '../../scripts/bench-path.js';
import { pollUntil } from '../helpers/poll.js';

const plan = (ip: string, fifo?: string): FloorPlan => ({
  criuDump: ['criu', 'dump', '-D', '<run>/images', '-o', '<run>/logs/dump.log'],
  fifos: fifo ? [{ path: fifo, key: 'file[1a:2b]', mode: 0o10600 }] : [],
  connections: [{ local: { ip } }],
  unixExternals: [],
});

/** criu restore: says which tree it is, fails for the tree named in $FAIL_TREE, else runs its action script and reaps forever. */
const FAKE_CRIU = `#!/bin/sh
images=; action=
while [ $# -gt 0 ]; do
  case "$1" in -D) images=$2; shift ;; --action-script) action=$2; shift ;; esac
  shift
done
tree=$(basename "$(dirname "$images")")
echo "$tree start $(date +%s%N)" >> "$CALLS"
sleep 0.3
[ "$tree" = "$FAIL_TREE" ] && { echo "$tree failed" >> "$CALLS"; exit 1; }
CRTOOLS_SCRIPT_ACTION=post-resume "$action"
exec sleep 60
`;

describe('bench floor scripts, several sessions', () => {
  let dir: string;
  let script: ChildProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kl-bench-floor-'));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const fake = (name: string, text: string) => {
      writeFileSync(join(bin, name), text);
      chmodSync(join(bin, name), 0o755);
    };
    fake('criu', FAKE_CRIU);
    // unshare drops its own options and runs criu, as the real one does in a new namespace.
    fake('unshare', '#!/bin/sh\nwhile [ "$1" != criu ]; do shift; done\nexec "$@"\n');
    fake('ip', '#!/bin/sh\necho "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0"\n');
  });

  afterEach(() => {
    if (script?.pid) process.kill(-script.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** The floor's text with its directory moved under the temp dir. */
  const moved = (text: string) => text.replaceAll(FLOOR_DIR, join(dir, 'floor'));

  it('restores the trees one after the other, and goes on past a failed one', async () => {
    const run = join(dir, 'floor/run');
    const plans = [
      plan('10.0.2.15'),
      plan('10.0.2.15', join(dir, 'sessions/3.ref')),
      plan('10.0.2.15'),
    ];
    for (let i = 0; i < plans.length; i++) {
      mkdirSync(join(run, `tree-${i}`), { recursive: true });
      writeFileSync(join(run, `tree-${i}/action.sh`), moved(actionScript(i)), { mode: 0o755 });
    }
    writeFileSync(join(run, 'restore.sh'), moved(restoreScript(plans)), { mode: 0o755 });
    const calls = join(dir, 'calls');
    script = spawn('dash', [join(run, 'restore.sh')], {
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
        CALLS: calls,
        FAIL_TREE: 'tree-1',
      },
    });
    const marksFile = join(run, 'marks');
    const marks = await pollUntil(
      () => {
        const text = readFileSync(marksFile, { encoding: 'utf8', flag: 'a+' });
        return text.includes('restored.2 ') ? parseFloorMarks(text) : undefined;
      },
      {
        timeoutMs: 20_000,
        intervalMs: 50,
        what: 'tree 2 restored',
        detail: () => readFileSync(calls, 'utf8'),
      },
    );
    expect(readFileSync(calls, 'utf8').replace(/ \d+$/gm, '')).toBe(
      'tree-0 start\ntree-1 start\ntree-1 failed\ntree-2 start\n',
    );
    const [t0, t1, t2] = [0, 1, 2].map((i) => floorPathMarks(marks, i)) as [
      PathMarks,
      PathMarks,
      PathMarks,
    ];
    expect(t0.address).toBeLessThanOrEqual(t0.restoreStart as number);
    // Tree 1 starts once tree 0 has resumed; tree 2 once tree 1's criu is gone, without its resume.
    expect(t1.restoreStart).toBeGreaterThanOrEqual(t0.restored as number);
    expect(t1.restored).toBeUndefined();
    expect(t2.restoreStart).toBeGreaterThan(t1.restoreStart as number);
    expect(t2.restored).toBeGreaterThan(t2.restoreStart as number);
    // The logind FIFO of tree 1's session, made again for its restore.
    expect(readFileSync(join(run, 'restore.sh'), 'utf8')).toContain('exec 3<>');
  });

  it('dumps each tree into its own directory, one after the other, before one kexec', () => {
    const text = leapScript([plan('10.0.2.15'), plan('10.0.2.16')]);
    const lines = text.split('\n');
    const at = (line: string) => lines.indexOf(line);
    expect(at('mark freeze.0')).toBeLessThan(at('mark dumped.0'));
    expect(at('mark dumped.0')).toBeLessThan(at('mark freeze.1'));
    expect(at('mark dumped.1')).toBeLessThan(at('kexec -e'));
    expect(text).toContain(
      `'criu' 'dump' '-D' '${FLOOR_DIR}/run/tree-1/images' '-o' '${FLOOR_DIR}/run/tree-1/logs/dump.log' || { mark dumpFailed; exit 1; }`,
    );
    expect(lines.filter((l) => l.startsWith('iptables-save'))).toHaveLength(1);
  });

  it("reads each tree's path from the marks every tree shares and its own", () => {
    const marks = parseFloorMarks(
      'freeze.0 1000000000\nfreeze.1 2000000000\ndumped.0 1500000000\ndumped.1 2500000000\nkexec 3000000000\nrules 9000000000\naddress 9500000000\nrestoreStart.1 9600000000\nrestored.1 9900000000\n',
    );
    expect(floorPathMarks(marks, 1)).toEqual({
      freeze: 2000,
      dumped: 2500,
      kexec: 3000,
      rules: 9000,
      address: 9500,
      restoreStart: 9600,
      restored: 9900,
    });
    expect(floorPathMarks(marks, 0)).toMatchObject({ freeze: 1000, restoreStart: undefined });
  });
});
