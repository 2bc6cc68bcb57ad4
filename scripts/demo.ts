// `npm run demo [-- --dist trixie]`: the main job on its embedded default. A
// disposable guest of a test bed (bookworm, Debian 12, unless --dist names
// trixie, Debian 13) boots the old kernel; an ssh session from the host runs a
// ticker and holds a TCP connection to an echo server here; `kernel-leap upgrade` is typed in that
// session; then a side-by-side verdict, and everything is torn down.
import { leapWithLiveSession } from '../test/helpers/demo-run.js';
import { prepareGuest } from '../test/helpers/leap.js';
import { LocalS3 } from '../test/helpers/s3rver.js';
import { bootGuest, type Vm } from '../test/helpers/vm-boot.js';
import { type Dist, distFromArgs } from '../test/helpers/vm-image.js';

const say = (line: string) => console.log(`demo: ${line}`);

async function main(dist: Dist): Promise<number> {
  const s3 = await LocalS3.start();
  say(`S3 server (s3rver) on 127.0.0.1:${s3.port}, bucket ${s3.bucket}`);
  let guest: Vm | undefined;
  try {
    guest = await bootGuest({ dist, log: say });
    await prepareGuest(guest, s3);
    const NEW_KERNEL = guest.connection.newKernel;
    say(
      `guest on ${(await guest.run('uname -r')).trim()}; opening an ssh session and typing: kernel-leap upgrade --yes --kernel ${NEW_KERNEL}`,
    );
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --kernel ${NEW_KERNEL}`,
      { onLine: (line) => console.log(`  session | ${line}`) },
    );
    const ok =
      result.upgradeExit === 0 &&
      result.kernelAfter === NEW_KERNEL &&
      result.echoIntact &&
      result.typedAfterRestore;
    const rows: Array<[string, string, string]> = [
      ['kernel', result.kernelBefore ?? '?', result.kernelAfter ?? '?'],
      [
        'ticker',
        'a line every 0.2 s',
        `longest gap seen from the host: ${(result.longestGapMs / 1000).toFixed(1)} s`,
      ],
      [
        'downtime',
        'reported by kernel-leap',
        result.reportDowntimeMs === undefined
          ? '?'
          : `${(result.reportDowntimeMs / 1000).toFixed(1)} s`,
      ],
      [
        'echo connection',
        `${result.pingsSent} pings, ${result.echoConnections} connection`,
        result.echoIntact ? 'same byte stream, nothing lost or repeated' : 'BROKEN',
      ],
      [
        'keyboard',
        'a line typed on the host',
        result.typedAfterRestore ? 'read by the restored shell' : 'NOT RECEIVED',
      ],
      ['upgrade exit code', '', String(result.upgradeExit)],
      [
        'logs',
        `s3://${s3.bucket}`,
        result.s3Keys.length
          ? `${result.s3Keys.length} objects under ${result.s3Keys[0]?.split('/').slice(0, 3).join('/')}/`
          : 'none',
      ],
    ];
    console.log('\nverdict');
    for (const [what, before, after] of rows)
      console.log(`  ${what.padEnd(18)} ${before.padEnd(26)} ${after}`);
    console.log(
      `\n${ok ? 'PASS: the live ssh session survived the kernel upgrade' : 'FAIL: see the session transcript above'}`,
    );
    return ok ? 0 : 1;
  } finally {
    await guest?.stop();
    await s3.stop();
  }
}

process.exitCode = await main(
  distFromArgs(process.argv.slice(2), 'usage: npm run demo [-- --dist bookworm|trixie]'),
);
