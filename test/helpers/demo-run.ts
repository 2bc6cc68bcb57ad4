/**
 * The main job on its default: a disposable guest, a live ssh session with a
 * visible ticker and a TCP connection to an echo server on the host, and
 * `kernel-leap upgrade` typed in that session. Shared by `npm run demo` and the
 * end-to-end guest test, which asserts what the demo prints.
 */
import { EchoServer } from './echo-server.js';
import { heldFile, type HeldRead, holdFileLine } from './held-file.js';
import { withPostMortem } from './leap.js';
import type { LocalS3 } from './s3rver.js';
import type { VmClient } from './vm-client.js';

export interface LeapResult {
  upgradeExit: number | undefined;
  kernelBefore: string | undefined;
  kernelAfter: string | undefined;
  longestGapMs: number;
  pingsSent: number;
  /** Replies logged after `upgrade` returned: the echo connection carried on. */
  echoAfterRestore: boolean;
  echoIntact: boolean;
  echoConnections: number;
  /** A line the host typed after the restore reached the session's shell. */
  typedAfterRestore: boolean;
  reportDowntimeMs: number | undefined;
  s3Keys: string[];
  transcript: string;
  /** The file the session held across the leap (`holdFile`), as the restored session holds it. */
  held: HeldRead | undefined;
}

export interface LeapOptions {
  onLine?: (line: string) => void;
  /** From the session's start to the restored shell's prompt for a typed line. */
  timeoutMs?: number;
  /** A path the session's shell holds open on fd 4 across the leap, read back before the session ends. */
  holdFile?: string;
}

const REPLIES = '/root/echo-replies';
const TYPE_NOW = 'TYPE-NOW';
const TYPED = 'typed on the host after the restore';

/**
 * Two loops: the ticker prints on its own, so its gap is the session's downtime;
 * the echo loop logs each reply, so a TCP retransmit backoff after the restore
 * shows in the byte stream check, not in the ticker.
 */
function sessionScript(echoPort: number, upgrade: string): string {
  return [
    `rm -f ${REPLIES}; exec 3<>/dev/tcp/10.0.2.2/${echoPort}`,
    `( i=0; while :; do i=$((i+1)); echo "ping $i" >&3; read -r -t 900 reply <&3 || break; echo "$reply" >> ${REPLIES}; sleep 0.2; done ) &`,
    '( i=0; while :; do i=$((i+1)); echo "tick $i $(uname -r)"; sleep 0.2; done ) &',
    'sleep 3',
    upgrade,
    'echo "UPGRADE-EXIT=$?"',
    // The echo stream must flow again after the restore, not only hold still.
    `n=$(wc -l < ${REPLIES}); for i in $(seq 240); do [ "$(wc -l < ${REPLIES})" -gt $((n + 2)) ] && break; sleep 0.5; done`,
    'echo "ECHO-RESUMED after $i half-seconds"; kill %1 %2',
    // The way back too: what the person types must reach the restored shell.
    `echo ${TYPE_NOW}; read -r -t 60 typed; echo "TYPED:$typed"; echo DEMO-DONE; sleep 600`,
  ].join('\n');
}

export async function leapWithLiveSession(
  guest: VmClient,
  s3: LocalS3,
  upgrade: string,
  { onLine = () => undefined, timeoutMs = 900_000, holdFile }: LeapOptions = {},
): Promise<LeapResult> {
  const echo = await EchoServer.start();
  const typed = holdFile === undefined ? upgrade : `${holdFileLine(holdFile)}\n${upgrade}`;
  const session = guest.openSession(sessionScript(echo.port, typed));
  let held: HeldRead | undefined;
  let printed = 0;
  const pump = setInterval(() => {
    for (const line of session.lines.slice(printed)) onLine(line.text);
    printed = session.lines.length;
  }, 200);
  try {
    await withPostMortem(guest, () => session.waitForLine(new RegExp(`^${TYPE_NOW}$`), timeoutMs));
    session.write(`${TYPED}\n`);
    await withPostMortem(guest, () => session.waitForLine(/^DEMO-DONE$/, 90_000));
    // While the restored session still holds it: it ends with the session.
    if (holdFile !== undefined) held = await heldFile(guest, holdFile);
  } finally {
    clearInterval(pump);
    for (const line of session.lines.slice(printed)) onLine(line.text);
    await session.close();
    await echo.stop();
  }
  const ticks = session.lines
    .map((l) => /^tick (\d+) (\S+)$/.exec(l.text))
    .filter((m): m is RegExpExecArray => m !== null);
  const replies = (await guest.run(`cat ${REPLIES}`)).split('\n').filter(Boolean);
  const pingsSent = replies.length;
  const expected = Array.from({ length: pingsSent }, (_, i) => `ping ${i + 1}\n`).join('');
  const run = JSON.parse(
    (await guest.run('kernel-leap report --json')).trim().split('\n').at(-1) ?? '{}',
  );
  const host = (await guest.run('hostname')).trim();
  return {
    upgradeExit: Number(/UPGRADE-EXIT=(\d+)/.exec(session.output())?.[1]),
    kernelBefore: ticks[0]?.[2],
    kernelAfter: ticks.at(-1)?.[2],
    longestGapMs: session.longestGap(/^tick \d+/).ms,
    pingsSent,
    echoAfterRestore:
      /ECHO-RESUMED after (\d+) /.test(session.output()) &&
      Number(/ECHO-RESUMED after (\d+) /.exec(session.output())?.[1]) < 240,
    // Every reply matched its ping, and the server saw the pings in order, none lost or repeated.
    echoIntact:
      pingsSent > 0 &&
      replies.every((r, i) => r === `ping ${i + 1}`) &&
      echo.received.startsWith(expected) &&
      echo.received.length <= expected.length + 12,
    echoConnections: echo.connections,
    typedAfterRestore: session.lines.some((l) => l.text === `TYPED:${TYPED}`),
    reportDowntimeMs: run.downtimeMs,
    s3Keys: await s3.keys(`kl-test/${host}/${run.runId}/`),
    transcript: session.output(),
    held,
  };
}
