/**
 * The story kernel-leap grew from, as one command (needs root, QEMU and Debian's
 * mirror; the slow tier, `npm run test:slow`, not part of `npm test`): a live ssh
 * session in the bookworm bed, with a ticker, an echo connection to the host and a
 * file in /tmp held open, types
 *
 *   kernel-leap upgrade --yes --pre 'point apt at trixie; full-upgrade; the cloud kernel'
 *
 * The go/no-go and the rehearsal come first, on bookworm; the --pre replaces CRIU
 * (3.17 to 4.1), OpenSSH (9.2 to 10, the session's sshd now a deleted binary under a
 * new listener), systemd (re-executed), bash and libc; the target is the newest
 * kernel the --pre installed. The session must come back on trixie's kernel with
 * /etc/debian_version 13, its ticker, its echo stream and its held file whole.
 * It writes what it saw to test/slow/results/dist-upgrade.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { leapWithLiveSession } from '../helpers/demo-run.js';
import { prepareGuest } from '../helpers/leap.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'dist-upgrade.json');
const HELD = '/tmp/kl-held-by-the-session';
const APT =
  'DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';
const PRE = [
  "sed -i 's/bookworm/trixie/g' /etc/apt/sources.list",
  'apt-get -q update',
  `${APT} full-upgrade`,
  `${APT} install linux-image-cloud-amd64`,
  'apt-get clean',
].join(' && ');

const log = (line: string) => console.log(`[dist-upgrade] ${line}`);

describe('Debian 12 to 13 in place, with a live ssh session carried to the new kernel', () => {
  let guest: Vm;
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await guest?.stop();
    await s3?.stop();
  });

  it('upgrade --pre full-upgrade: rehearsed on bookworm, the session back on trixie with its ticker, connection and file', async () => {
    const started = Date.now();
    const before = await guestFacts(guest);
    log(`before: ${JSON.stringify(before)}`);
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --pre "${PRE}"`,
      {
        onLine: (line) => {
          if (!/^(tick|ping) /.test(line)) log(`session: ${line}`);
        },
        timeoutMs: 60 * 60_000,
        holdFile: HELD,
      },
    );
    const after = await guestFacts(guest);
    const held = result.held;
    const summary = {
      when: new Date(started).toISOString(),
      minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
      before,
      after,
      upgradeExit: result.upgradeExit,
      kernelBefore: result.kernelBefore,
      kernelAfter: result.kernelAfter,
      hostGapMs: result.longestGapMs,
      reportDowntimeMs: result.reportDowntimeMs,
      echoIntact: result.echoIntact,
      typedAfterRestore: result.typedAfterRestore,
      held,
    };
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(summary, null, 2)}\n`);
    log(JSON.stringify(summary));

    expect(result.upgradeExit, result.transcript).toBe(0);
    expect(result.transcript).toMatch(/newest installed after --pre/);
    expect(before.debian).toMatch(/^12\./);
    expect(after.debian).toMatch(/^13\./);
    expect(result.kernelBefore).toBe(guest.connection.oldKernel);
    expect(result.kernelAfter).toMatch(/^6\.12\..*\+deb13-cloud-amd64$/);
    expect(after.criu).toMatch(/^4\./);
    expect(result.echoIntact, result.transcript).toBe(true);
    expect(result.echoAfterRestore, result.transcript).toBe(true);
    expect(result.typedAfterRestore, result.transcript).toBe(true);
    expect(held?.content).toBe('before-the-leap\n');
  });
});

interface GuestFacts {
  debian: string;
  kernel: string;
  criu: string;
  ssh: string;
  systemd: string;
  tmp: string;
}

async function guestFacts(vm: Vm): Promise<GuestFacts> {
  const line = await vm.run(
    [
      'printf "%s|" "$(cat /etc/debian_version)" "$(uname -r)"',
      'printf "%s|" "$(criu --version | sed -n "s/^Version: //p")" "$(ssh -V 2>&1)"',
      'printf "%s|" "$(systemctl --version | head -n1)" "$(findmnt -n -o FSTYPE /tmp || echo disk)"',
    ].join('; '),
  );
  const [debian = '', kernel = '', criu = '', ssh = '', systemd = '', tmp = ''] = line.split('|');
  return { debian, kernel, criu, ssh, systemd, tmp };
}
