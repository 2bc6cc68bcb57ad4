/**
 * A guest by hand: `npm run vm -- up [--dist bookworm|trixie] | ssh [CMD...] | down`.
 * up boots a guest of that test bed (bookworm by default) that keeps running
 * after this command and records it in a state file; ssh opens a shell in it or
 * runs one command (its exit code is ours); down stops it and removes its temp dir.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bootGuest, stopGuest } from './vm-boot.js';
import { distFromArgs } from './vm-image.js';
import { isRunning } from './vm-qemu.js';
import { sshArgs, type VmConnection } from './vm-ssh.js';

const STATE_FILE =
  process.env.KL_VM_STATE ?? fileURLToPath(new URL('../../.cache/vm/state.json', import.meta.url));
const USAGE = 'usage: npm run vm -- up [--dist bookworm|trixie] | ssh [CMD...] | down';

function readState(): VmConnection | undefined {
  return existsSync(STATE_FILE)
    ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as VmConnection)
    : undefined;
}

/** The recorded guest, if its QEMU still runs (the pid must still be that QEMU, with that dir). */
function runningGuest(): VmConnection | undefined {
  const state = readState();
  if (!state || !isRunning(state.pid)) return undefined;
  const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
  return cmdline.includes(state.dir) ? state : undefined;
}

async function up(args: string[]): Promise<number> {
  const dist = distFromArgs(args, USAGE);
  const running = runningGuest();
  if (running) {
    console.error(
      `a guest is already up (${running.dist}, pid ${running.pid}, port ${running.port}); \`npm run vm -- down\` first`,
    );
    return 1;
  }
  const vm = await bootGuest({ dist, detached: true, log: (line) => console.error(`vm: ${line}`) });
  mkdirSync(dirname(STATE_FILE), { recursive: true });
  writeFileSync(STATE_FILE, `${JSON.stringify(vm.connection, null, 2)}\n`);
  console.log(
    `up: ${dist}, ${vm.connection.user} and root log in with ${vm.connection.key}, pid ${vm.connection.pid}, port ${vm.connection.port}, dir ${vm.connection.dir}, state ${STATE_FILE}`,
  );
  return 0;
}

function ssh(command: string[]): number {
  const guest = runningGuest();
  if (!guest) {
    console.error('no guest is up: `npm run vm -- up` first');
    return 1;
  }
  // A terminal for an interactive shell; a command runs without one, so its output stays clean.
  const tty = command.length === 0 && process.stdin.isTTY ? ['-t'] : [];
  const result = spawnSync('ssh', [...tty, ...sshArgs(guest, ...command)], { stdio: 'inherit' });
  return result.status ?? 255;
}

async function down(): Promise<number> {
  const guest = runningGuest();
  const state = readState();
  if (guest) await stopGuest(guest);
  else if (state) rmSync(state.dir, { recursive: true, force: true });
  rmSync(STATE_FILE, { force: true });
  console.log(guest ? `down: stopped pid ${guest.pid}` : 'down: no guest was running');
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'up') return up(rest);
  if (verb === 'ssh') return ssh(rest);
  if (verb === 'down') return down();
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`vm: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
