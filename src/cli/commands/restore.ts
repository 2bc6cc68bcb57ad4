import { runRestore } from '../../engine/restore-run.js';
import { leftUnshipped, shipRun } from '../../engine/ship.js';
import type { Command } from '../command.js';

export const restoreCommand: Command = {
  name: 'restore',
  needsRoot: true,
  summary: 'restore the dumped session (run at boot by kernel-leap-restore.service)',
  usage: 'restore [--run ID] [--boot]',
  options: { run: { type: 'string' }, boot: { type: 'boolean' } },
  optionHelp: [
    '--run ID         the run to restore by hand (default: latest); an `interrupted` one (a restart cut its restore at boot short) comes back with its connections shut down',
    '--boot           called by the boot unit: consume the pending mark first, restore on whatever boot this is, clean up whatever happens',
  ],
  async run(ctx, values) {
    const { code, journals } = await runRestore(ctx, {
      runId: values.run as string | undefined,
      boot: values.boot === true,
    });
    // The session is back (or not): only now the slow, non-critical work.
    for (const journal of journals) await shipRun(ctx, journal.runId);
    if (values.boot === true)
      for (const runId of leftUnshipped(ctx.config.paths.state_dir)) await shipRun(ctx, runId);
    return code;
  },
};
