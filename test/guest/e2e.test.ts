/**
 * End to end (needs root and QEMU; kexecs its own guest twice): a live ssh session
 * with a ticker, an echo connection and a file in /tmp held open types
 * `kernel-leap upgrade`; it comes back on the new kernel with the same byte stream
 * and the file whole (the boot emptied /tmp), the command returns 0 with a report
 * whose downtime matches the gap the host saw, what the host types reaches the
 * restored shell, and the logs are in S3. The second
 * leap replaces the session's own binaries first (--pre). On ifupdown, the bed's
 * stack, the lock rules were in before networking.service started and held until
 * criu's restore. kernel-leap is its Debian package, installed with apt-get in a
 * guest with no Node of its own; the last test checks it, its manual and its
 * completion, then removes and purges it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { leapWithLiveSession } from '../helpers/demo-run.js';
import { expectCarried } from '../helpers/expect-leap.js';
import { expectEventually, prepareGuest } from '../helpers/leap.js';
import { expectRulesHeldAcross } from '../helpers/network-stack.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';

describe('one command carries a live ssh session across a kernel upgrade', () => {
  let guest: Vm;
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ log: console.log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await guest?.stop();
    await s3?.stop();
  });

  it('upgrade returns 0 in the session, on the new kernel, with its echo stream intact and its file in /tmp whole', async () => {
    const { oldKernel, newKernel } = guest.connection;
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --kernel ${newKernel}`,
      { holdFile: HELD },
    );
    expectCarried(result, oldKernel, newKernel);
    expect(result.transcript).toMatch(/ok\s+NETWORK\s+ifupdown brings up eth0: /);
    // bookworm empties /tmp at boot (tmpfiles' D /tmp): the file comes back only because it was carried.
    expect(result.transcript).toMatch(/ok\s+HELD_FILES\s+1 held file /);
    expect(result.transcript).toMatch(/copied 1 held file the boot clears \(16 bytes\)/);
    expect(result.held).toMatchObject({ content: 'before-the-leap\n' });
    expect(result.held?.holders).toBeGreaterThan(0);
    expect(await guest.run('cat /var/lib/kernel-leap/latest/held-files.log')).toMatch(
      /^held-files\/0: put back: 16 bytes, mode 0[0-7]{3}, uid 0\n$/,
    );
    // The copy goes with the images once the run's logs are shipped.
    await expectEventually(
      'the held copies removed with the images',
      async () =>
        (await guest.exec('test -e /var/lib/kernel-leap/latest/held-files')).exitCode === 1,
      120_000,
    );
    // A target that panics reboots instead of hanging with the machine.
    expect(await guest.run('cat /proc/cmdline')).toMatch(/(^|\s)panic=10(\s|$)/);
    // The bed boots QEMU's -kernel, no GRUB: the plan says so, and no one-shot was set or is left.
    expect(result.transcript).toMatch(
      /fallback if the new kernel fails to boot: none: the machine does not boot through GRUB/,
    );
    expect((await guest.exec('test -e /var/lib/kernel-leap/grub-next-entry.json')).exitCode).toBe(
      1,
    );
    const order = await expectRulesHeldAcross(guest, 'ifupdown');
    console.log(
      `[e2e] ifupdown: lock rules in at ${order.rulesAt} s, networking.service started at ${order.stackAt} s after the kernel's start`,
    );
  });

  it('also when --pre replaces the binaries the session runs; no other user sees the --pre, and every file it leaves is owner-only', async () => {
    const { oldKernel, newKernel } = guest.connection;
    await guest.run('apt-get update -qq', { timeoutMs: 300_000 });
    await watchPsAsNobody(guest);
    // S3CR$((1+2))T: the session's own bash -c holds its script, whose text must not hold the word.
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --kernel ${oldKernel} --pre "echo S3CR$((1+2))T; apt-get install --reinstall -y openssh-server bash"`,
    );
    expectCarried(result, newKernel, oldKernel);
    const journal = JSON.parse(await guest.run('cat /var/lib/kernel-leap/latest/journal.json'));
    expect(journal.phases.pre.status).toBe('done');
    expect(journal.phases.pre.outputs.command).toMatch(/^echo S3CR3T; /);
    await expectPsNeverShowed(guest);
    // Every file and directory of every run, the boot scripts' records and criu's at boot included.
    expect(
      await guest.run('find /var/lib/kernel-leap \\( -type f -o -type d \\) -perm /077 -ls'),
    ).toBe('');
  });

  it('as its Debian package installed it, with no other Node: check passes, man and completion work, remove and purge leave nothing enabled', async () => {
    expect((await guest.exec('command -v node')).exitCode).toBe(1);
    const check = await guest.exec('kernel-leap check');
    expect(check.exitCode, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/ok\s+node\s+22\.\S+ at \/usr\/lib\/kernel-leap\/node/);
    // The bed has no man-db: the page as man reads it.
    expect(await guest.run('zcat /usr/share/man/man8/kernel-leap.8.gz | head -3')).toMatch(
      /^\.TH KERNEL\\-LEAP 8 /,
    );
    const completion =
      'source /usr/share/bash-completion/completions/kernel-leap; COMP_WORDS=(kernel-leap pl); COMP_CWORD=1; _kernel_leap; echo "${COMPREPLY[*]}"';
    expect((await guest.run(`bash -c '${completion}'`)).trim()).toBe('plan');

    // The timers as an administrator turns them on, and what a leap installs for its boot, as
    // if the last run still waited for it: remove must leave none of it in force.
    const timers = 'kernel-leap-upload.timer kernel-leap-auto.timer';
    const run = (await guest.run('basename "$(readlink -f /var/lib/kernel-leap/latest)"')).trim();
    await guest.run(
      [
        `systemctl enable --now --quiet ${timers}`,
        `printf '[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/kernel-leap-restore.service`,
        'systemctl enable --quiet kernel-leap-restore.service',
        'touch /etc/network/if-pre-up.d/kernel-leap /var/lib/kernel-leap/lock-rules.v4',
        `echo ${run} > /var/lib/kernel-leap/pending`,
      ].join(' && '),
    );
    const removed = await guest.exec(
      'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q kernel-leap',
    );
    expect(removed.exitCode, removed.stderr).toBe(0);
    // apt-get runs dpkg on a pty of its own: the scripts' stderr comes out on apt's stdout.
    expect(removed.stdout + removed.stderr).toContain(`runs pending a restore: ${run}`);
    const enabled = await guest.run(
      `systemctl list-unit-files --no-legend 'kernel-leap*'; ls /etc/systemd/system/*.wants | grep kernel-leap; systemctl is-active ${timers}; true`,
    );
    expect(enabled.trim().split('\n')).toEqual(['inactive', 'inactive']);
    const left = await guest.run(
      'ls /etc/systemd/system/kernel-leap-* /etc/network/if-pre-up.d/kernel-leap /var/lib/kernel-leap/lock-rules.v4 2>/dev/null; true',
    );
    expect(left).toBe('');

    const purged = await guest.exec(
      'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kernel-leap',
    );
    expect(purged.exitCode, purged.stderr).toBe(0);
    expect(purged.stdout + purged.stderr).toContain(
      `purge kept /var/lib/kernel-leap: runs pending a restore: ${run}`,
    );
    expect(
      (await guest.run('ls /var/lib/kernel-leap/runs; ls -d /etc/kernel-leap 2>&1; true')).trim(),
    ).toBe(`${run}\nls: cannot access '/etc/kernel-leap': No such file or directory`);
  });
});

const PS_WATCH = '/var/tmp/kl-ps-watch';
/** The file the first leap's session holds open on fd 4 across the leap. */
const HELD = '/tmp/kl-held';

/**
 * What any user sees of the leap: `ps` run as nobody every 0.2 s, from before the
 * session types `upgrade` until the kexec ends it. Each poll that shows S3CR3T
 * adds its lines to `seen`, numbered; one that shows the --pre running, its number
 * to `during-pre` (the regexes do not match the watcher's own command line).
 */
async function watchPsAsNobody(guest: Vm): Promise<void> {
  const poll = [
    'n=0',
    'while :; do',
    '  n=$((n + 1))',
    `  setpriv --reuid=nobody --regid=nogroup --clear-groups ps -ewwo args > ${PS_WATCH}/now 2>&1`,
    `  grep "S3CR[3]T" ${PS_WATCH}/now | sed "s/^/$n /" >> ${PS_WATCH}/seen`,
    `  grep -q "/pre[.]sh" ${PS_WATCH}/now && echo $n >> ${PS_WATCH}/during-pre`,
    '  sleep 0.2',
    'done',
  ].join('\n');
  // In single quotes on the guest's shell: the loop has none of its own.
  await guest.run(
    `rm -rf ${PS_WATCH} && mkdir -p ${PS_WATCH} && touch ${PS_WATCH}/seen ${PS_WATCH}/during-pre && systemd-run --unit=kl-ps-watch --collect --quiet /bin/sh -c '${poll}'`,
  );
}

/**
 * The word was on no command line while the --pre ran. The only one that may
 * show it is the launcher's own, from the exec of what was typed to its first
 * lines moving the words to a root-only file: an instant, so at most one poll.
 */
async function expectPsNeverShowed(guest: Vm): Promise<void> {
  const duringPre = (await guest.run(`cat ${PS_WATCH}/during-pre`)).split('\n').filter(Boolean);
  expect(duringPre.length, 'polls that saw the --pre run').toBeGreaterThan(0);
  const seen = (await guest.run(`cat ${PS_WATCH}/seen`)).split('\n').filter(Boolean);
  console.log(
    `[e2e] ps as nobody: ${duringPre.length} polls during --pre; S3CR3T seen: ${JSON.stringify(seen)}`,
  );
  for (const line of seen)
    expect(line).toMatch(/^\d+ \/bin\/sh \/usr\/local\/bin\/kernel-leap upgrade /);
  expect(new Set(seen.map((line) => line.split(' ')[0])).size).toBeLessThanOrEqual(1);
}
