/**
 * The floor that `npm run bench -- downtime` holds kernel-leap to: the same leap
 * done with stock tools and nothing else (issue 15). Before the freeze the kernel
 * is loaded and a plain boot unit is installed; after it only `criu dump` of each
 * session's tree (with the flags kernel-leap's plan gives), `iptables-save` of the
 * lock rules, `sync` and `kexec -e`. At boot the unit loads the rules before the
 * network, waits for the dumped addresses, and runs `criu restore` of each tree in
 * a new pid+mount namespace as kernel-leap does (docs/criu-facts.md §13). Each step
 * writes a mark (a tree's own with its index), so the floor's critical path reads
 * like the leap's, session by session.
 *
 * With several sessions the floor dumps the trees one after the other, and
 * restores them one after the other too, each started once the one before has
 * resumed: stock criu restores cannot run side by side, since each one opens
 * /dev/ptmx until the kernel hands it its pty's index and fails when another
 * restore has just taken an index below it (docs/criu-facts.md §8). That is the
 * floor a person gets with stock tools; its later sessions wait for the earlier.
 */
import { shQuote } from '../src/render/quote.js';
import { criuRestoreArgs } from '../src/tools/criu-args.js';
import type { VmClient } from '../test/helpers/vm-client.js';
import type { PathMarks } from './bench-path.js';

export const FLOOR_DIR = '/root/floor';
const RUN = `${FLOOR_DIR}/run`;
const PENDING = `${FLOOR_DIR}/pending`;
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
ExecStartPre=${FLOOR_DIR}/rules.sh
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

/** Tree `i`'s files: its images, logs and action script. */
const treeDir = (i: number) => `${RUN}/tree-${i}`;

/** criu runs it at each stage; post-resume is when tree `i` runs again. */
export function actionScript(i: number): string {
  return `#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = post-resume ] || exit 0
echo "restored.${i} $(date +%s%N)" >> ${FLOOR_MARKS}
`;
}

export async function installFloor(vm: VmClient): Promise<void> {
  await vm.run(`mkdir -p ${FLOOR_DIR} && cat > /etc/systemd/system/${FLOOR_UNIT}`, { input: UNIT });
  await vm.run(`cat > ${FLOOR_DIR}/rules.sh && chmod 755 ${FLOOR_DIR}/rules.sh`, {
    input: RULES_SH,
  });
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

/**
 * Tree `i`'s restore, started in the background: its FIFOs opened in a subshell
 * that becomes criu, so each tree gets the descriptors its plan names. The
 * script goes on to the next tree once this one has resumed, or its criu is gone.
 */
function treeRestore(plan: FloorPlan, i: number): string[] {
  const fifos = plan.fifos.map((f, n) => ({ ...f, fd: 3 + n }));
  const criu = criuRestoreArgs({
    imagesDir: `${treeDir(i)}/images`,
    logFile: `${treeDir(i)}/restore.log`,
    verbosity: 4,
    tcpEstablished: true,
    extUnixSk: true,
    fileLocks: true,
    manageCgroups: 'ignore',
    extra: [],
    actionScript: `${treeDir(i)}/action.sh`,
    inheritFds: fifos.map((f) => ({ fd: f.fd, key: f.key })),
  });
  return [
    `mark restoreStart.${i}`,
    '(',
    ...fifos.flatMap((f) => [
      `mkdir -p "$(dirname ${shQuote(f.path)})"`,
      `[ -p ${shQuote(f.path)} ] || mkfifo -m ${(f.mode & 0o7777).toString(8)} ${shQuote(f.path)}`,
      `exec ${f.fd}<>${shQuote(f.path)}`,
    ]),
    // criu stays pid 1 of the new namespace and reaps the tree (docs/criu-facts.md §13).
    `exec unshare --pid --fork --mount --mount-proc --propagation=private criu ${criu.map(shQuote).join(' ')}`,
    ') &',
    `until grep -q '^restored\\.${i} ' ${FLOOR_MARKS} || ! kill -0 $! 2>/dev/null; do sleep 0.05; done`,
  ];
}

export function restoreScript(plans: readonly FloorPlan[]): string {
  const addresses = [...new Set(plans.flatMap((p) => p.connections.map((c) => c.local.ip)))];
  return [
    '#!/bin/sh',
    MARK,
    `rm -f ${PENDING}`,
    ...addresses.map(
      (ip) => `until ip -4 -o addr show | grep -q ${shQuote(` inet ${ip}/`)}; do sleep 0.1; done`,
    ),
    'mark address',
    ...plans.flatMap(treeRestore),
    // The unit's main process lives as long as the sessions' criu reapers.
    'wait',
    '',
  ].join('\n');
}

export function leapScript(plans: readonly FloorPlan[]): string {
  const dumps = plans.flatMap((plan, i) => [
    `mark freeze.${i}`,
    `${plan.criuDump
      .map((a) => a.replaceAll('<run>', treeDir(i)))
      .map(shQuote)
      .join(' ')} || { mark dumpFailed; exit 1; }`,
    `mark dumped.${i}`,
  ]);
  return [
    '#!/bin/sh',
    MARK,
    ...dumps,
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
export async function startFloorLeap(vm: VmClient, plans: readonly FloorPlan[]): Promise<void> {
  const trees = plans.map((_, i) => treeDir(i));
  await vm.run(`rm -rf ${RUN} && mkdir -p ${trees.map((t) => `${t}/images ${t}/logs`).join(' ')}`);
  for (const [i, tree] of trees.entries())
    await vm.run(`cat > ${tree}/action.sh && chmod 755 ${tree}/action.sh`, {
      input: actionScript(i),
    });
  await vm.run(`cat > ${RUN}/restore.sh && chmod 755 ${RUN}/restore.sh`, {
    input: restoreScript(plans),
  });
  await vm.run(`cat > ${RUN}/leap.sh && chmod 755 ${RUN}/leap.sh`, { input: leapScript(plans) });
  await vm.run(`systemd-run --no-block --quiet ${RUN}/leap.sh`);
}

/** The floor's marks on both boots, in guest wall-clock ms. */
export async function floorMarks(vm: VmClient): Promise<Record<string, number>> {
  return parseFloorMarks(await vm.run(`cat ${FLOOR_MARKS}`));
}

export function parseFloorMarks(text: string): Record<string, number> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([name, ns]) => [name, Number(ns) / 1e6]),
  );
}

/** Tree `i`'s critical path: the marks every tree shares, and its own. */
export function floorPathMarks(marks: Record<string, number>, i: number): PathMarks {
  return {
    freeze: marks[`freeze.${i}`],
    dumped: marks[`dumped.${i}`],
    kexec: marks.kexec,
    rules: marks.rules,
    address: marks.address,
    restoreStart: marks[`restoreStart.${i}`],
    restored: marks[`restored.${i}`],
  };
}

/** The images take as much disk as the sessions' memory: gone once the round's figures are read. */
export async function removeFloorImages(vm: VmClient): Promise<void> {
  await vm.run(`rm -rf ${RUN}/tree-*/images`);
}
