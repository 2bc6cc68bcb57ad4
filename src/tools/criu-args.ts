/**
 * Typed criu options, one field per flag (as runc's CriuOpts), and the pure argv
 * builders. `--no-default-config` keeps /etc/criu/default.conf and
 * ~/.criu/default.conf out (docs/criu-facts.md §6); the adapter also clears CRIU_CONFIG_FILE.
 */
export interface CriuCommonOptions {
  /** -D: images directory. */
  imagesDir: string;
  /** -o: log file (absolute). */
  logFile: string;
  /** -v4: the log level post-mortems need. */
  verbosity: 0 | 1 | 2 | 3 | 4;
  /** --tcp-established: needed on both sides (docs/criu-facts.md §5). */
  tcpEstablished: boolean;
  /** --ext-unix-sk: dgram peers outside the tree (journald's /dev/log). */
  extUnixSk: boolean;
  /** -l / --file-locks: dump fails on locks without it; needed on both sides. */
  fileLocks: boolean;
  /** --shell-job: the root is not a session leader (a nohup job); needed on both sides (criu/pstree.c). */
  shellJob?: boolean;
  /** --manage-cgroups=MODE: ignore keeps the tree out of the dumped cgroup paths. */
  manageCgroups: 'ignore' | 'soft' | 'full' | 'strict';
  /** Appended as given: [criu] extra_*_args. */
  extra: readonly string[];
}

export interface CriuDumpOptions extends CriuCommonOptions {
  /** -t: root of the tree. */
  tree: number;
  /** --link-remap: names for unlinked files that still have links. */
  linkRemap: boolean;
  /** --ghost-limit: largest deleted file CRIU may copy into the images. */
  ghostLimitBytes: number | undefined;
  /** --external: file[MNT:INO] and unix[INO] keys. */
  externals: readonly string[];
  /** --network-lock: iptables, whose rules kernel-leap reloads at boot (docs/criu-facts.md §1; tools/criu-features.ts). */
  networkLock: 'iptables';
  /** What becomes of the tree once dumped: killed (criu's default), or -R for the rehearsal, or --leave-stopped. */
  finalState: 'dead' | 'running' | 'stopped';
}

export interface CriuRestoreOptions extends CriuCommonOptions {
  /** --inherit-fd fd[N]:KEY pairs. */
  inheritFds: ReadonlyArray<{ fd: number; key: string }>;
  /** --action-script: notifies kernel-leap after the tasks resume. */
  actionScript: string | undefined;
  /** --tcp-close: the connections come back shut down, for a peer that is gone. */
  tcpClose?: boolean;
  /** How the tree is left once restored: running (criu's default), or --leave-stopped until it is resumed. */
  finalState?: 'running' | 'stopped';
}

function commonArgs(o: CriuCommonOptions): string[] {
  return [
    '-D',
    o.imagesDir,
    '-o',
    o.logFile,
    `-v${o.verbosity}`,
    ...(o.tcpEstablished ? ['--tcp-established'] : []),
    ...(o.extUnixSk ? ['--ext-unix-sk'] : []),
    ...(o.fileLocks ? ['--file-locks'] : []),
    ...(o.shellJob ? ['--shell-job'] : []),
    `--manage-cgroups=${o.manageCgroups}`,
  ];
}

const FINAL_STATE_ARGS = {
  dead: [],
  running: ['--leave-running'],
  stopped: ['--leave-stopped'],
} as const;

export function criuDumpArgs(o: CriuDumpOptions): string[] {
  return [
    'dump',
    '--no-default-config',
    '-t',
    String(o.tree),
    ...commonArgs(o),
    ...(o.linkRemap ? ['--link-remap'] : []),
    ...(o.ghostLimitBytes !== undefined ? ['--ghost-limit', String(o.ghostLimitBytes)] : []),
    '--network-lock',
    o.networkLock,
    ...o.externals.flatMap((e) => ['--external', e]),
    ...FINAL_STATE_ARGS[o.finalState],
    ...o.extra,
  ];
}

/** The restore options that do not depend on the new boot (no -D/-o/--inherit-fd). */
export function criuRestoreArgs(o: CriuRestoreOptions): string[] {
  return [
    'restore',
    '--no-default-config',
    ...commonArgs(o),
    ...(o.actionScript ? ['--action-script', o.actionScript] : []),
    ...(o.tcpClose ? ['--tcp-close'] : []),
    ...(o.finalState === 'stopped' ? FINAL_STATE_ARGS.stopped : []),
    ...o.inheritFds.flatMap((f) => ['--inherit-fd', `fd[${f.fd}]:${f.key}`]),
    ...o.extra,
  ];
}

/** `tty[RDEV:DEV]` in hex, as stat(2) gives them (CRIU tty.c get_tty_driver). */
export function externalTtyKey(rdev: number, dev: number): string {
  return `tty[${rdev.toString(16)}:${dev.toString(16)}]`;
}

/** `file[MNT:INO]` in lowercase hex: the decimal form is silently not matched (docs/criu-facts.md §9). */
export function externalFileKey(mntId: number, inode: number): string {
  return `file[${mntId.toString(16)}:${inode.toString(16)}]`;
}
