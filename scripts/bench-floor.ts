/**
 * The floor that `npm run bench -- downtime` holds kernel-leap to: the same leap
 * done with stock tools and nothing else (issue 15). Before the freeze the kernel
 * is loaded and a plain boot unit is installed; after it only `criu dump` (with
 * the flags kernel-leap's plan gives), `iptables-save` of the lock rules, `sync`
 * and `kexec -e`. At boot the unit loads the rules before the network, waits for
 * the dumped address, and runs `criu restore` in a new pid+mount namespace as
 * kernel-leap does (docs/criu-facts.md §13). Each step writes a mark, so the floor's
 * critical path reads like the leap's.
 */
import { shQuote } from '../src/render/quote.js';
import { criuRestoreArgs } from '../src/tools/criu-args.js';
import type { VmClient } from '../test/helpers/vm-client.js';

const DIR = '/root/floor';
const RUN = `${DIR}/run`;
const PENDING = `${DIR}/pending`;
export const FLOOR_MARKS = `${RUN}/marks`;
export const FLOOR_UNIT = 'kl-floor.service';

/** What the floor needs from `kernel-leap plan --json`. */
export interface FloorPlan {
  criuDump: string[];
  fifos: Array<{ path: string; key: string; mode: number }>;
  connections: Array<{ local: { ip: string } }>;
  unixExternals: unknown[];
}

/** The one unit, installed once: inert (its condition false) until a floor run leaves the pending file. */
const UNIT = `[Unit]
Description=bench floor: restore the dumped session
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target
Wants=network-pre.target
ConditionPathExists=${PENDING}

[Service]
# simple: the network waits for the rules (ExecStartPre), not for the address wait and the restore.
Type=simple
ExecStartPre=${DIR}/rules.sh
ExecStart=${RUN}/restore.sh

[Install]
WantedBy=multi-user.target
`;

const MARK = `mark() { echo "$1 $(date +%s%N)" >> ${FLOOR_MARKS}; }`;

const RULES_SH = `#!/bin/sh
${MARK}
mark unitStart
iptables-restore --noflush ${RUN}/rules.v4
mark rules
`;

/** criu runs it at each stage; post-resume is when the session runs again. */
const ACTION_SH = `#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = post-resume ] || exit 0
echo "restored $(date +%s%N)" >> ${FLOOR_MARKS}
`;

export async function installFloor(vm: VmClient): Promise<void> {
  await vm.run(`mkdir -p ${DIR} && cat > /etc/systemd/system/${FLOOR_UNIT}`, { input: UNIT });
  await vm.run(`cat > ${DIR}/rules.sh && chmod 755 ${DIR}/rules.sh`, { input: RULES_SH });
  await vm.run(`cat > ${DIR}/action.sh && chmod 755 ${DIR}/action.sh`, { input: ACTION_SH });
  await vm.run(`systemctl daemon-reload && systemctl enable --quiet ${FLOOR_UNIT}`);
}

/** The session's plan, as kernel-leap would dump it. */
export async function floorPlan(vm: VmClient, tty: string): Promise<FloorPlan> {
  const out = await vm.run(`kernel-leap plan --json --tty ${tty}`);
  const line = out.split('\n').find((l) => l.includes('"sessions"'));
  const session = (JSON.parse(line ?? '{}') as { sessions?: FloorPlan[] }).sessions?.[0];
  if (!session) throw new Error(`kernel-leap plan --json --tty ${tty} named no session:\n${out}`);
  if (session.unixExternals.length > 0)
    throw new Error('the floor recreates FIFOs only; this session has external unix sockets');
  return session;
}

/**
 * The new kernel loaded before the freeze, as a person would: its own initrd, the
 * running command line; purgatory's SHA-256 check on, kexec's default, unless
 * `noChecks` (-i), which the issue's floor used.
 */
export async function loadFloorKernel(
  vm: VmClient,
  kernel: string,
  noChecks: boolean,
): Promise<void> {
  await vm.run(
    `kexec -l /boot/vmlinuz-${kernel} --initrd=/boot/initrd.img-${kernel} --reuse-cmdline${noChecks ? ' -i' : ''}`,
    { timeoutMs: 300_000 },
  );
}

function restoreScript(plan: FloorPlan): string {
  const addresses = [...new Set(plan.connections.map((c) => c.local.ip))];
  const fifos = plan.fifos.map((f, i) => ({ ...f, fd: 3 + i }));
  const criu = criuRestoreArgs({
    imagesDir: `${RUN}/images`,
    logFile: `${RUN}/restore.log`,
    verbosity: 4,
    tcpEstablished: true,
    extUnixSk: true,
    fileLocks: true,
    manageCgroups: 'ignore',
    extra: [],
    actionScript: `${DIR}/action.sh`,
    inheritFds: fifos.map((f) => ({ fd: f.fd, key: f.key })),
  });
  return [
    '#!/bin/sh',
    MARK,
    `rm -f ${PENDING}`,
    ...addresses.map(
      (ip) => `until ip -4 -o addr show | grep -q ${shQuote(` inet ${ip}/`)}; do sleep 0.1; done`,
    ),
    'mark address',
    ...fifos.flatMap((f) => [
      `mkdir -p "$(dirname ${shQuote(f.path)})"`,
      `[ -p ${shQuote(f.path)} ] || mkfifo -m ${(f.mode & 0o7777).toString(8)} ${shQuote(f.path)}`,
      `exec ${f.fd}<>${shQuote(f.path)}`,
    ]),
    'mark restoreStart',
    // criu stays pid 1 of the new namespace and reaps the tree (docs/criu-facts.md §13).
    `exec unshare --pid --fork --mount --mount-proc --propagation=private criu ${criu.map(shQuote).join(' ')}`,
    '',
  ].join('\n');
}

function leapScript(plan: FloorPlan): string {
  const dump = plan.criuDump.map((a) => a.replaceAll('<run>', RUN));
  return [
    '#!/bin/sh',
    MARK,
    'mark freeze',
    `${dump.map(shQuote).join(' ')} || { mark dumpFailed; exit 1; }`,
    'mark dumped',
    // Only the lock rules (CRIU's, marked 0xc114), in a file iptables-restore --noflush takes.
    `iptables-save -t filter | grep -E '^(\\*filter|:|COMMIT)|0xc114' > ${RUN}/rules.v4`,
    `touch ${PENDING}`,
    'sync',
    'mark kexec',
    `sync ${FLOOR_MARKS}`,
    'kexec -e',
    '',
  ].join('\n');
}

/** Writes this run's scripts, then starts the leap detached: the ssh that starts it must not wait on the jump. */
export async function startFloorLeap(vm: VmClient, plan: FloorPlan): Promise<void> {
  await vm.run(`rm -rf ${RUN} && mkdir -p ${RUN}/images ${RUN}/logs`);
  await vm.run(`cat > ${RUN}/restore.sh && chmod 755 ${RUN}/restore.sh`, {
    input: restoreScript(plan),
  });
  await vm.run(`cat > ${RUN}/leap.sh && chmod 755 ${RUN}/leap.sh`, { input: leapScript(plan) });
  await vm.run(`systemd-run --no-block --quiet ${RUN}/leap.sh`);
}

/** The floor's marks on both boots, in guest wall-clock ms. */
export async function floorMarks(vm: VmClient): Promise<Record<string, number>> {
  const text = await vm.run(`cat ${FLOOR_MARKS}`);
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([name, ns]) => [name, Number(ns) / 1e6]),
  );
}
