/**
 * The whole login session (needs root and QEMU; kexecs its own guest three
 * times): an ssh session starts a detached tmux server (it daemonizes under pid 1
 * but stays in the session's logind scope) and a nohup job from a shell that then
 * exits. The plan names both as carried trees of the session. Then no one types
 * the leap: the newer kernel is removed, and `kernel-leap auto`, started as its
 * timer starts it inside an [auto] window open now, finds nothing to do; then apt
 * installs that kernel while the session runs, and kernel-leap-auto.timer starts
 * auto, which leaps every ssh session to it (issue 29). After the leap auto's record says it leapt, with the
 * runs, the tmux session is listed, its window's loop and the nohup job write the
 * new kernel's name, and the report lists nothing lost. bookworm empties /tmp at
 * boot, so tmux's socket directory is made again before criu binds the socket
 * there. Then a second leap, with --all-ssh, of a session whose tmux client is
 * attached to its server: the server holds the client's terminal, which criu
 * cannot restore in another tree, so the client is hung up before the dump; it
 * ends cleanly and the server lives on. A rehearsal before it leaves the client
 * attached.
 * Last, `upgrade` typed in a tmux window, where no sshd is above the shell: the
 * session is found through its logind scope, and the tmux tree, the caller's, is
 * dumped last and hears the outcome.
 */
import { describe, expect, it } from 'vitest';

import {
  expectEventually,
  startAutoService,
  waitForOutcome,
  withAutoEnabled,
  withPostMortem,
} from '../helpers/leap.js';
import { type PreparedGuest, usePreparedGuest } from '../helpers/prepared-guest.js';
import { type VmSession, wholeLine } from '../helpers/vm-session.js';

const TMUX_LOOP = 'while :; do uname -r > /root/tmux-k; sleep 1; done';
const NOHUP_LOOP = 'while :; do uname -r > /root/nohup-k; sleep 1; done';
const TICKER = 'while :; do echo "tick $(uname -r)"; sleep 0.5; done';
const TWO_READER = 'while read -r line; do echo "$line $(uname -r)" >> /root/tmux-two-in; done';
const TICKER_THREE = 'while :; do echo "tick3 $(uname -r)"; sleep 0.5; done';

interface PlanJson {
  sessions: Array<{
    root: { pid: number; scopeTree?: { session: number; scope: string } };
    shellJob: boolean;
    socketDirs: Array<{ path: string; mode: number }>;
  }>;
  leftBehind: unknown[];
}

interface AutoRecordJson {
  action: string;
  reason: string;
  kernel?: string;
  runs?: string[];
}

const TIMER_DROPIN = '/run/systemd/system/kernel-leap-auto.timer.d';
/** Where the newer kernel's package is copied in, for apt to install it during the session. */
const NEW_KERNEL_DEB = '/root/new-kernel.deb';

/**
 * Turns kernel-leap-auto.timer on as a user does, but firing 10 s from now rather
 * than at the next quarter hour, and waits for `session` to tick on `newKernel`;
 * auto's record then. The drop-in and the enabling are in /run, which the kexec
 * clears: the new boot does not start auto again (a decision that would replace
 * the record), nor does any later test.
 */
async function leapByTimer(
  bed: PreparedGuest,
  session: VmSession,
  newKernel: string,
): Promise<AutoRecordJson> {
  await bed.guest.run(
    `mkdir -p ${TIMER_DROPIN} && printf '[Timer]\\nOnCalendar=\\nOnActiveSec=10s\\nAccuracySec=1s\\n' > ${TIMER_DROPIN}/soon.conf && systemctl daemon-reload && systemctl enable --now --runtime kernel-leap-auto.timer`,
  );
  // No ssh from here until the leap is over: auto carries every ssh session, a short one too.
  await withPostMortem(bed.guest, () =>
    session.waitForLine(wholeLine(`tick ${newKernel}`), 480_000),
  );
  return JSON.parse(await bed.guest.run('cat /var/lib/kernel-leap/auto.json')) as AutoRecordJson;
}

describe('a leap carries the whole login session, not only its ssh tree', () => {
  const bed = usePreparedGuest();

  it('kernel-leap-auto.timer leaps a detached tmux server and a nohup job whose shell exited to the new kernel, nothing lost', async () => {
    const { oldKernel, newKernel } = bed.guest.connection;
    const session = bed.open(
      [
        `tmux new -d -s work '${TMUX_LOOP}'`,
        `bash -c 'nohup sh -c "${NOHUP_LOOP}" >/dev/null 2>&1 &'`,
        'kernel-leap plan --json > /root/plan.json; echo "PLAN-EXIT=$?"',
        TICKER,
      ].join('; '),
    );
    await session.waitForLine(/^PLAN-EXIT=\d+/, 120_000);
    expect(session.output()).toContain('PLAN-EXIT=0');
    const plan = JSON.parse(
      (await bed.guest.run('cat /root/plan.json')).trim().split('\n').at(-1) ?? '{}',
    ) as PlanJson;
    const [ssh, ...trees] = plan.sessions;
    expect(trees).toHaveLength(2);
    for (const tree of trees)
      expect(tree.root.scopeTree).toMatchObject({
        session: ssh?.root.pid,
        scope: expect.stringMatching(/\/session-\d+\.scope$/),
      });
    const [tmux, job] = trees;
    expect(tmux?.socketDirs).toEqual([
      expect.objectContaining({ path: '/tmp/tmux-0', mode: 0o700 }),
    ]);
    expect(job?.shellJob).toBe(true);
    expect(plan.leftBehind).toEqual([]);

    // The newer kernel is not there yet: auto, started as its timer starts it, has nothing to do.
    await bed.guest.run(`apt-get purge -y -q linux-image-${newKernel}`, { timeoutMs: 300_000 });
    await bed.guest.copyIn(bed.guest.image.newKernelDeb, NEW_KERNEL_DEB);
    const { window, before, record } = await withAutoEnabled(bed.guest, -5, 60, async (window) => {
      const before = await startAutoService(bed.guest);
      // apt installs it while the session runs, as unattended-upgrades would.
      await bed.guest.run(`apt-get install -y -q ${NEW_KERNEL_DEB}`, { timeoutMs: 600_000 });
      return { window, before, record: await leapByTimer(bed, session, newKernel) };
    });
    expect(before.status).toBe(0);
    expect(before.said).toContain(`no kernel newer than the running ${oldKernel} is installed`);
    expect(record).toMatchObject({
      action: 'leap',
      kernel: newKernel,
      reason: `${newKernel} is installed, newer than the running ${oldKernel}; inside the window ${window}`,
    });
    // The kexec cleared /run, and the timer's enabling with it: auto does not leap the tests below.
    expect((await bed.guest.exec('systemctl is-enabled kernel-leap-auto.timer')).stdout).toBe(
      'disabled\n',
    );
    const runs = record.runs ?? [];
    expect(runs, "the leap's runs, in auto's record").toHaveLength(3);
    for (const run of runs) await waitForOutcome(bed.guest, /^restored$/, 60_000, run);
    expect(await bed.guest.run('kernel-leap status')).toMatch(
      new RegExp(`^last auto decision \\(.+\\): leap: .+ \\[run ${runs.join(', ')}\\]$`, 'm'),
    );

    expect(await bed.guest.run('tmux ls')).toMatch(/^work: 1 windows/m);
    await expectEventually(
      `tmux's loop to write ${newKernel}`,
      async () => (await bed.guest.run('cat /root/tmux-k')).trim() === newKernel,
      30_000,
    );
    await expectEventually(
      `the nohup job to write ${newKernel}`,
      async () => (await bed.guest.run('cat /root/nohup-k')).trim() === newKernel,
      30_000,
    );
    expect(
      (
        await bed.guest.run(
          `pgrep -cf '^sh -c ${NOHUP_LOOP.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$' || true`,
        )
      ).trim(),
    ).toBe('1');
    const report = JSON.parse(
      (await bed.guest.run(`kernel-leap report --run ${runs.at(-1)} --json`))
        .trim()
        .split('\n')
        .at(-1) ?? '{}',
    ) as { leftBehind: unknown[]; oldKernel: string; newKernel: string };
    expect(report).toMatchObject({ leftBehind: [], oldKernel, newKernel });
    console.log(await bed.guest.run(`kernel-leap report --run ${runs[0]} | head -30`));
  });

  it('a tmux client attached in another session stays attached: a line typed on the host after the leap reaches the program in its window', async () => {
    const { oldKernel } = bed.guest.connection;
    // Its own socket: the server of the test above answers on the default one.
    const attached = bed.open(
      `tmux -L two new -d -s two '${TWO_READER}'; TERM=xterm tmux -L two attach -t two; echo "ATTACH-EXIT=$?"`,
    );
    await expectEventually(
      'the tmux client to attach',
      async () =>
        (await bed.guest.run('tmux -L two list-clients 2>/dev/null || true')).trim() !== '',
      60_000,
    );
    attached.write('before\n');
    await expectEventually(
      'the window to read the line typed before the leap',
      async () =>
        /^before \S+$/m.test(await bed.guest.run('cat /root/tmux-two-in 2>/dev/null || true')),
      30_000,
    );
    const rehearsal = bed.open('kernel-leap rehearse --all-ssh; echo "REHEARSE-EXIT=$?"');
    await withPostMortem(bed.guest, () => rehearsal.waitForLine(/^REHEARSE-EXIT=\d+/, 300_000));
    expect(rehearsal.output()).toContain('REHEARSE-EXIT=0');
    expect(rehearsal.output()).toMatch(
      /TERMINAL_KEPT .*the tree holds \/dev\/pts\/\d+, tree \d+'s terminal .*the client stays attached/,
    );
    expect((await bed.guest.run('tmux -L two list-clients')).trim()).not.toBe('');
    const caller = bed.open(
      `kernel-leap upgrade --all-ssh --yes --kernel ${oldKernel}; echo "UPGRADE-EXIT=$?"; sleep 600`,
    );
    await withPostMortem(bed.guest, () => caller.waitForLine(/^UPGRADE-EXIT=\d+/, 480_000));
    expect(caller.output()).toContain('UPGRADE-EXIT=0');
    expect(caller.output()).toMatch(
      /unix stream to \/tmp\/tmux-0\/two between tree \d+ .* and tree \d+ .*: rejoined at the restore/,
    );
    // The first test's tmux server, restored in a scope of its own, is not carried again: the plan says so.
    expect(caller.output()).toMatch(
      /warn +lost +a tree of root's that an earlier leap restored .*not carried: pid \d+ \(tmux new -d -s work/,
    );
    expect((await bed.guest.run('uname -r')).trim()).toBe(oldKernel);
    // The server's tree, which holds the client's terminal, is restored after the others: the caller's outcome may come first.
    await expectEventually(
      'the restored server to list its client',
      async () =>
        (await bed.guest.run('tmux -L two list-clients 2>/dev/null || true')).trim() !== '',
      60_000,
    );
    attached.write('after\n');
    await expectEventually(
      `the window to read the line typed after the leap, on ${oldKernel}`,
      async () => (await bed.guest.run('cat /root/tmux-two-in')).includes(`after ${oldKernel}`),
      60_000,
    );
    expect(attached.output()).not.toMatch(/ATTACH-EXIT=/);
  });

  it('upgrade typed in a tmux window finds its ssh session through the login scope, and returns there on the new kernel', async () => {
    const { newKernel } = bed.guest.connection;
    const typed = `kernel-leap upgrade --yes --kernel ${newKernel}; echo "UPGRADE-EXIT=$?" > /root/three-exit; sleep 600`;
    const session = bed.open(`tmux -L three new -d -s three '${typed}'; ${TICKER_THREE}`);
    await withPostMortem(bed.guest, () =>
      session.waitForLine(wholeLine(`tick3 ${newKernel}`), 480_000),
    );
    await expectEventually(
      'the upgrade in the tmux window to return',
      async () => (await bed.guest.run('cat /root/three-exit 2>/dev/null || true')).trim() !== '',
      60_000,
    );
    expect((await bed.guest.run('cat /root/three-exit')).trim()).toBe('UPGRADE-EXIT=0');
    expect(await bed.guest.run('tmux -L three ls')).toMatch(/^three: 1 windows/m);
    const pane = await bed.guest.run('tmux -L three capture-pane -p -S - -t three');
    expect(pane).toMatch(
      /tree of session \d+'s login scope session-\d+\.scope, outside its ssh tree/,
    );
  });
});
