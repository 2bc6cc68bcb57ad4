import type { Command } from '../command.js';
import { autoCommand } from './auto.js';
import { checkCommand } from './check.js';
import { planCommand } from './plan.js';
import { reportCommand } from './report.js';
import { restoreCommand } from './restore.js';
import { pruneCommand, runsCommand } from './runs.js';
import { statusCommand } from './status.js';
import { rehearseCommand, upgradeCommand } from './upgrade.js';
import { uploadLogsCommand } from './upload-logs.js';
import { workerCommand, workerStoppedCommand } from './worker.js';

export const COMMANDS: readonly Command[] = [
  checkCommand,
  planCommand,
  rehearseCommand,
  upgradeCommand,
  autoCommand,
  restoreCommand,
  statusCommand,
  reportCommand,
  runsCommand,
  pruneCommand,
  uploadLogsCommand,
  workerCommand,
  workerStoppedCommand,
];
