import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Journal, parseJournal } from '../../src/state/journal.js';

// A child rewrites a large journal in a tight loop; we SIGKILL it at varied moments.
// Every time, the journal on disk must still parse as a whole journal.
const WRITER = `
import { Journal } from ${JSON.stringify(resolve('src/state/journal.ts'))};
const journal = Journal.open(process.argv.at(-1));
for (let i = 0; ; i++) { journal.recordChange('filler', '/x/'.repeat(200), String(i)); if (i === 0) process.stdout.write('go\\n'); }
`;

function killWriterAfter(stateDir: string, ms: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', WRITER, stateDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), ms));
    child.once('exit', (_code, signal) =>
      signal === 'SIGKILL' ? done() : fail(new Error(`writer exited on its own (${signal})`)),
    );
  });
}

describe('journal writes killed midway', () => {
  it('always leave the previous journal readable', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'kl-crash-'));
    const journal = Journal.create(stateDir, 'upgrade', 'crash-run');
    let lastCount = 0;
    for (const ms of [5, 37, 120, 260]) {
      await killWriterAfter(stateDir, ms);
      const data = parseJournal(readFileSync(journal.paths.journal, 'utf8'), journal.paths.journal);
      expect(data.runId).toBe('crash-run');
      expect(data.changes.length).toBeGreaterThanOrEqual(lastCount);
      lastCount = data.changes.length;
    }
    expect(lastCount).toBeGreaterThan(0);
    // A killed writer may leave its temp file, never a torn journal.json.
    expect(readdirSync(journal.paths.dir).filter((f) => f === 'journal.json')).toHaveLength(1);
  }, 60_000);
});
