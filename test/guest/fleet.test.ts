/**
 * A fleet (needs root, QEMU and ansible-core; boots three guests, kexecs two):
 * three bookworm guests, each with a live ssh session from the host that prints a
 * tick every 0.2 s, go through `ansible-playbook ansible/upgrade.yml` from the
 * host, with the shipped default config plus the [s3] section a user sets. Ansible
 * logs in as `deploy`, a non-root user, and becomes root with sudo (the playbook's
 * `become: true`), as most sites run it; the role installs the .deb of this build.
 * guest-c's session also holds an AF_ALG socket, which CRIU cannot dump: its
 * rehearsal says no-go, so it stays on its old kernel with its session untouched,
 * and the fleet report lists it as no-go with the reason. guest-a and guest-b are
 * upgraded one after the other (serial 1): both come back on the new kernel, each
 * ticker pauses once for as long as its run's report says, the pauses do not
 * overlap, and fleet-report.json lists both restored with their downtimes and
 * logs. Ansible's own connection is one of the carried sessions: the upgrade task
 * returns in it, with the report the restored launcher prints: the leap carries
 * deploy's session with sudo and kernel-leap running in it as root.
 *
 * KL_FLEET_BOOT=sequential boots the guests one after the other (default: both
 * at once); the test prints how long that took, and the playbook's time.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requireCommand } from '../helpers/require.js';
import { LocalS3, S3_KEY, S3_SECRET } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';
import type { VmSession } from '../helpers/vm-session.js';

const HOSTS = ['guest-a', 'guest-b', 'guest-c'] as const;
const UPGRADED = ['guest-a', 'guest-b'] as const;
const NO_GO = 'guest-c';
const TICKER = 'while :; do echo "tick $(uname -r)"; sleep 0.2; done';
// A child of the session holds a bound AF_ALG socket (the kernel's crypto API), a family CRIU has no dumper for.
const AF_ALG_HOLDER = `python3 -c 'import socket, time; s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET); s.bind(("hash", "sha256")); time.sleep(86400)' & ${TICKER}`;
const PREFIX = 'fleet';
const PLAYBOOK_TIMEOUT_MS = 40 * 60_000;

/** A run as `kernel-leap runs --since` gives it, with where the play fetched its report.json. */
interface FleetRun {
  runId: string;
  ptys: number[];
  caller: boolean;
  outcome: string;
  downtimeMs: number | null;
  s3: string | null;
  uploaded: boolean;
  report: string | null;
}
interface FleetHost {
  outcome: string;
  oldKernel: string;
  newKernel: string;
  kernelAfter: string;
  downtimeMs: number;
  runId: string;
  s3: string;
  ansibleConnection: string;
  upgradeExit: number;
  upgradeSaid?: string;
  sessions: { carried: number; remapped: string[]; lost: string[] };
  processesLeftBehind: string[];
  sessionRoots: string[];
  runs: FleetRun[];
}
interface NoGoHost {
  outcome: string;
  verdict: string;
  stage: string;
  kernelBefore: string;
  reasons: string[];
}

/** The playbook as a user runs it, from the repo root; its lines go to the test's log as they come, stamped. */
async function ansiblePlaybook(
  dir: string,
  args: string[],
): Promise<{ exitCode: number | undefined; all: string; ms: number }> {
  const started = Date.now();
  const play = execa(
    'ansible-playbook',
    ['-i', join(dir, 'inventory.ini'), 'ansible/upgrade.yml', ...args],
    {
      env: {
        LC_ALL: 'C.UTF-8',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp'),
        ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, 'cp'),
      },
      all: true,
      reject: false,
      timeout: PLAYBOOK_TIMEOUT_MS,
      stdin: 'ignore',
    },
  );
  play.all?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n'))
      if (line.trim()) console.log(`[ansible +${seconds(Date.now() - started)}] ${line}`);
  });
  const result = await play;
  return { exitCode: result.exitCode, all: String(result.all), ms: Date.now() - started };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('ansible/upgrade.yml upgrades a fleet in place, one host at a time', () => {
  const guests: Vm[] = [];
  const tickers: VmSession[] = [];
  let s3: LocalS3;
  let dir: string;

  beforeAll(async () => {
    requireCommand('ansible-playbook', 'ansible-core');
    s3 = await LocalS3.start();
    dir = mkdtempSync(join(tmpdir(), 'kl-fleet-'));
    const sequential = process.env.KL_FLEET_BOOT === 'sequential';
    const started = Date.now();
    const boot = (name: string) => bootGuest({ log: (line) => console.log(`[${name}] ${line}`) });
    if (sequential) for (const name of HOSTS) guests.push(await boot(name));
    else guests.push(...(await Promise.all(HOSTS.map(boot))));
    console.log(
      `[fleet] ${HOSTS.length} guests up ${sequential ? 'one after the other' : 'at once'} in ${seconds(Date.now() - started)} (each from QEMU's start to sshd: ${guests.map((g) => seconds(g.bootToSshMs)).join(', ')})`,
    );
  });
  afterAll(async () => {
    await Promise.all(tickers.map((t) => t.close()));
    await Promise.all(guests.map((g) => g.stop()));
    await s3?.stop();
  });

  it(
    'the go hosts come back on the new kernel with their live sessions, the no-go one is untouched, and fleet-report.json says so',
    async () => {
      const { oldKernel, newKernel } = guests[0]?.connection ?? { oldKernel: '?', newKernel: '?' };
      for (const [i, guest] of guests.entries()) {
        const ticker = guest.openSession(HOSTS[i] === NO_GO ? AF_ALG_HOLDER : TICKER);
        tickers.push(ticker);
        await ticker.waitForLine(new RegExp(`^tick ${oldKernel}$`), 60_000);
      }
      expect(await guests[HOSTS.indexOf(NO_GO)]?.run('pgrep -f AF_ALG')).toMatch(/^\d+/);

      writeFileSync(
        join(dir, 'inventory.ini'),
        [
          '[fleet]',
          ...guests.map(
            (g, i) => `${HOSTS[i]} ansible_host=127.0.0.1 ansible_port=${g.connection.port}`,
          ),
          '[fleet:vars]',
          // Not root: the playbook becomes root with sudo, which lets this user in without a password.
          `ansible_user=${guests[0]?.connection.sudoer}`,
          `ansible_ssh_private_key_file=${guests[0]?.connection.key}`,
          "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes'",
          'ansible_python_interpreter=/usr/bin/python3',
          '',
        ].join('\n'),
      );
      const report = join(dir, 'fleet-report.json');
      const vars = join(dir, 'vars.json');
      // What a user sets: the [s3] section for their store and its credentials; everything else as shipped.
      writeFileSync(
        vars,
        JSON.stringify({
          kernel_leap_s3: {
            endpoint: `http://10.0.2.2:${s3.port}`,
            region: 'us-east-1',
            bucket: s3.bucket,
            prefix: PREFIX,
            path_style: true,
          },
          kernel_leap_s3_access_key_id: S3_KEY,
          kernel_leap_s3_secret_access_key: S3_SECRET,
          kernel_leap_report: report,
        }),
      );

      const result = await ansiblePlaybook(dir, [
        '-e',
        `kernel_leap_kernel=${newKernel}`,
        '-e',
        `@${vars}`,
      ]);
      console.log(`[fleet] ansible-playbook exited ${result.exitCode} after ${seconds(result.ms)}`);
      expect(result.exitCode, result.all.slice(-4000)).toBe(0);

      console.log(`[fleet] ${report}:\n${readFileSync(report, 'utf8')}`);
      const fleet = JSON.parse(readFileSync(report, 'utf8')) as {
        target: string;
        summary: Record<string, number>;
        hosts: Record<string, FleetHost>;
      };
      expect(fleet.target).toBe(newKernel);
      // The message carries each host's outcome and reasons: CI shows only the tail of the log.
      const outcomes = Object.fromEntries(
        Object.entries(fleet.hosts).map(([name, h]) => [
          name,
          { outcome: h.outcome, reasons: (h as unknown as NoGoHost).reasons },
        ]),
      );
      expect(fleet.summary, JSON.stringify(outcomes)).toEqual({ restored: 2, 'no-go': 1 });
      const gaps: Array<{ from: number; to: number }> = [];
      for (const name of UPGRADED) {
        const i = HOSTS.indexOf(name);
        const guest = guests[i] as Vm;
        const host = fleet.hosts[name] as FleetHost;
        const ticker = tickers[i] as VmSession;
        expect(host).toMatchObject({
          outcome: 'restored',
          oldKernel,
          newKernel,
          kernelAfter: newKernel,
          upgradeExit: 0,
          ansibleConnection: 'carried',
        });
        expect((await guest.run('uname -r')).trim()).toBe(newKernel);
        await ticker.waitForLine(new RegExp(`^tick ${newKernel}$`), 60_000);

        // Two sessions carried: the ticker's (root's) and Ansible's own (deploy's, running
        // sudo and kernel-leap as root), whose upgrade task returned in it.
        const tickerRun = host.runs.find((r) => !r.caller);
        const ansibleRun = host.runs.find((r) => r.caller);
        expect(host.sessionRoots.join('; ')).toMatch(/sshd: deploy/);
        expect(host.sessions.carried).toBe(2);
        expect(host.sessions.lost).toEqual([]);
        if (host.processesLeftBehind.length > 0)
          console.log(
            `[fleet] ${name}: processes left behind: ${host.processesLeftBehind.join('; ')}`,
          );
        expect(ansibleRun).toMatchObject({ outcome: 'restored', runId: host.runId });
        expect(host.upgradeSaid).toBe(`run ${host.runId} on kl-guest: restored`);
        expect(tickerRun?.outcome).toBe('restored');

        const gap = ticker.longestGap(/^tick /);
        const downtime = tickerRun?.downtimeMs ?? 0;
        console.log(
          `[fleet] ${name}: ticker paused ${seconds(gap.ms)} on the host, its run says ${seconds(downtime)}; Ansible's session ${seconds(ansibleRun?.downtimeMs ?? 0)}; host downtime ${seconds(host.downtimeMs)}`,
        );
        // The line right after the pause may still name the old kernel (its uname ran before the
        // freeze); the next ones name the new kernel.
        const firstNew = ticker.lines.find((l) => l.text === `tick ${newKernel}`);
        expect(gap.before?.text).toBe(`tick ${oldKernel}`);
        expect((firstNew?.mono ?? 0) - (gap.after?.mono ?? 0)).toBeGreaterThanOrEqual(0);
        expect((firstNew?.mono ?? 0) - (gap.after?.mono ?? 0)).toBeLessThan(2000);
        expect(Math.abs(gap.ms - downtime)).toBeLessThan(5000);
        expect(host.downtimeMs).toBe(Math.max(...host.runs.map((r) => r.downtimeMs ?? 0)));
        gaps.push({ from: gap.before?.mono ?? 0, to: gap.after?.mono ?? 0 });

        // Every run's report was fetched, and its logs are in the store under the key the report gives.
        for (const run of host.runs) {
          expect(JSON.parse(readFileSync(run.report ?? '', 'utf8'))).toMatchObject({
            runId: run.runId,
            outcome: 'restored',
          });
          expect(run.uploaded).toBe(true);
          const prefix = `${PREFIX}/kl-guest/${run.runId}/`;
          expect(run.s3).toBe(`s3://${s3.bucket}/${prefix}`);
          expect(await s3.keys(prefix)).toContain(`${prefix}report.json`);
        }
      }
      // serial 1, in inventory order: the second host froze only after the first one's sessions were back.
      const [a, b] = gaps;
      console.log(
        `[fleet] ${HOSTS[0]} paused from +0 to +${seconds((a?.to ?? 0) - (a?.from ?? 0))}, ${HOSTS[1]} from +${seconds((b?.from ?? 0) - (a?.from ?? 0))} to +${seconds((b?.to ?? 0) - (a?.from ?? 0))}`,
      );
      expect((a?.to ?? 0) < (b?.from ?? 0)).toBe(true);
      await expectUntouched(NO_GO, fleet.hosts[NO_GO] as unknown as NoGoHost, oldKernel);
      const table = result.all.slice(
        result.all.lastIndexOf('TASK [kernel_leap : Show the fleet]'),
        result.all.lastIndexOf('PLAY RECAP'),
      );
      console.log(
        `[fleet] playbook ${seconds(result.ms)} for ${HOSTS.length} hosts; the table it printed:\n${table}`,
      );
      expect(table).toMatch(
        new RegExp(
          `${NO_GO} +no-go +${oldKernel} +- +- +criu dump failed: sockets: BUG! Unknown socket collected \\(family 38\\)`,
        ),
      );
      // The no-go host has shown all it can: stopped now, it takes no CPU from the second run.
      await tickers[HOSTS.indexOf(NO_GO)]?.close();
      await guests[HOSTS.indexOf(NO_GO)]?.stop();
    },
    PLAYBOOK_TIMEOUT_MS + 5 * 60_000,
  );

  /** The no-go host: on its old kernel, its ticker never paused beyond the rehearsal's brief freeze, and the report says why. */
  async function expectUntouched(name: string, host: NoGoHost, oldKernel: string): Promise<void> {
    const i = HOSTS.indexOf(name as (typeof HOSTS)[number]);
    console.log(`[fleet] ${name}: ${host.outcome} at ${host.stage}: ${host.reasons.join('; ')}`);
    expect(host).toMatchObject({
      outcome: 'no-go',
      verdict: 'no-go',
      stage: 'rehearse',
      kernelBefore: oldKernel,
    });
    expect(host.reasons.join('; ')).toMatch(
      /^criu dump failed: sockets: BUG! Unknown socket collected \(family 38\); log: \/var\/lib\/kernel-leap\/runs\/.*\/rehearsal\.log$/,
    );
    expect((await guests[i]?.run('uname -r'))?.trim()).toBe(oldKernel);
    const ticker = tickers[i] as VmSession;
    await ticker.waitForLine(new RegExp(`^tick ${oldKernel}$`), 10_000);
    const gap = ticker.longestGap(/^tick /);
    console.log(`[fleet] ${name}: the ticker's longest pause on the host: ${seconds(gap.ms)}`);
    expect(gap.ms).toBeLessThan(30_000);
    expect(
      ticker.lines.some((l) => l.text.startsWith('tick ') && !l.text.endsWith(oldKernel)),
    ).toBe(false);
  }

  // Limited to the upgraded hosts: under TCG each module run costs seconds per host, and the no-go
  // host would only rehearse again.
  it(
    'a second run changes nothing on the upgraded hosts: both are current, the install is idempotent',
    async () => {
      const { newKernel } = guests[0]?.connection ?? { newKernel: '?' };
      const from = tickers.map((t) => t.lines.length);
      const result = await ansiblePlaybook(dir, [
        '--limit',
        UPGRADED.join(','),
        '-e',
        `kernel_leap_kernel=${newKernel}`,
        '-e',
        `@${join(dir, 'vars.json')}`,
      ]);
      console.log(`[fleet] second run: exit ${result.exitCode} after ${seconds(result.ms)}`);
      expect(result.exitCode, result.all.slice(-4000)).toBe(0);
      // Only the fleet report on the controller changes (`changed: [guest-a -> localhost]`: its outcomes now say current).
      expect(
        result.all.split('\n').filter((line) => /^changed: \[guest-[ab]\]/.test(line)),
      ).toEqual([]);
      expect(result.all).toMatch(/^guest-a +: ok=\d+ +changed=1 /m);
      expect(result.all).toMatch(/^guest-b +: ok=\d+ +changed=0 /m);
      const fleet = JSON.parse(readFileSync(join(dir, 'fleet-report.json'), 'utf8')) as {
        summary: Record<string, number>;
      };
      expect(fleet.summary).toEqual({ current: 2 });
      // The sessions were not touched: each ticker went on printing.
      for (const name of UPGRADED) {
        const i = HOSTS.indexOf(name);
        expect(tickers[i]?.lines.length).toBeGreaterThan((from[i] ?? 0) + 10);
      }
    },
    PLAYBOOK_TIMEOUT_MS,
  );
});
