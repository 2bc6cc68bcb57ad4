import type { Command } from '../command.js';
import { checkCommand } from './check.js';
import { notBuilt } from './not-built.js';

const SESSION_OPTIONS = {
  pid: { type: 'string' },
  tty: { type: 'string' },
  'all-ssh': { type: 'boolean' },
} as const;
const SESSION_HELP = ['--pid PID        a process of the session (default: this one)', '--tty pts/N      the session on this pty', '--all-ssh        every ssh session'];

export const COMMANDS: readonly Command[] = [
  checkCommand,
  notBuilt('plan', 'show the session, what reaches outside it, the CRIU options and every risk', 'plan [--pid PID | --tty pts/N | --all-ssh]', SESSION_OPTIONS, SESSION_HELP, 'the checkpoint side'),
  notBuilt('rehearse', 'dump the session with --leave-running into a scratch dir, check the images, say go or no-go', 'rehearse [--pid PID | --tty pts/N | --all-ssh]', SESSION_OPTIONS, SESSION_HELP, 'the checkpoint side'),
  notBuilt('upgrade', 'plan, rehearse, dump the session, prepare the boot and kexec into the new kernel', 'upgrade [--kernel VERSION|PATH] [--pid PID | --all-ssh] [--pre CMD] [--no-exec] [--yes]', { ...SESSION_OPTIONS, kernel: { type: 'string' }, pre: { type: 'string' }, 'no-exec': { type: 'boolean' }, 'no-rehearse': { type: 'boolean' }, yes: { type: 'boolean' } }, [...SESSION_HELP, '--kernel V|PATH  kernel to boot (default: newest installed, not running)', '--pre CMD        run CMD (e.g. a package upgrade) before the dump', '--no-exec        stop after the dump and the boot preparation', '--no-rehearse    skip the rehearsal dump', '--yes            do not ask for confirmation'], 'the end-to-end issue'),
  notBuilt('restore', 'restore the dumped session (run at boot by kernel-leap-restore.service)', 'restore [--run ID] [--boot]', { run: { type: 'string' }, boot: { type: 'boolean' } }, ['--run ID         the run to restore (default: latest)', '--boot           called by the boot unit: clean up whatever happens'], 'the restore side'),
  notBuilt('status', 'show the latest run and each phase', 'status [--run ID]', { run: { type: 'string' } }, ['--run ID         a run id (default: latest)'], 'the restore side'),
  notBuilt('report', 'the outcome, the kernels, the remaps and the timeline of a run', 'report [--run ID]', { run: { type: 'string' } }, ['--run ID         a run id (default: latest)'], 'the restore side'),
  notBuilt('upload-logs', 'ship the spooled logs of runs to S3', 'upload-logs [--run ID]', { run: { type: 'string' } }, ['--run ID         only this run (default: every spooled run)'], 'the restore side'),
];
