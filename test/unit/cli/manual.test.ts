import { describe, expect, it } from 'vitest';

import { COMMANDS } from '../../../src/cli/commands/index.js';
import { bashCompletion, manPage, roff, typedCommands } from '../../../src/cli/manual.js';

const page = manPage({ version: '1.2.3', date: '2026-12-06', unitDir: '/usr/lib/systemd/system' });

describe('the manual page, kernel-leap(8), from the command table', () => {
  it('is section 8, dated and versioned', () => {
    expect(page.split('\n')[0]).toBe(
      '.TH KERNEL\\-LEAP 8 "2026-12-06" "kernel\\-leap 1.2.3" "System Administration"',
    );
  });

  it('has each command a person types, with its usage and every option of its --help', () => {
    for (const command of typedCommands()) {
      expect(page).toContain(`.B ${roff(command.usage)}\n${roff(command.summary)}`);
      for (const line of command.optionHelp)
        expect(page).toContain(roff(line.split(/\s{2,}/)[0] ?? ''));
    }
  });

  it('leaves out the commands kernel-leap starts itself', () => {
    const internal = COMMANDS.filter((c) => c.internal);
    expect(internal.map((c) => c.name).sort()).toEqual(['worker', 'worker-stopped']);
    for (const command of internal) expect(page).not.toContain(roff(command.usage));
  });

  it('escapes what roff would read as a request or a minus', () => {
    expect(roff(".x 'y\n-a\\b")).toBe("\\&.x 'y\n\\-a\\eb");
    // Every line read as a request is one of the man macros the page means to use.
    const requests = page.split('\n').filter((l) => /^[.']/.test(l));
    for (const line of requests)
      expect(line).toMatch(/^\.(TH|SH|TP|PP|RS|RE|B|I|RI|BR|br|ad l|nh)( |$)/);
  });
});

describe('the bash completion, from the command table', () => {
  const script = bashCompletion();

  it('offers the typed commands and help first, and never an internal one', () => {
    const first = /'\) words='([^']*)'/.exec(script)?.[1]?.split(' ') ?? [];
    expect(first).toEqual(expect.arrayContaining([...typedCommands().map((c) => c.name), 'help']));
    expect(first).not.toContain('worker');
  });

  it("offers each command's options, and skips the value of those that take one", () => {
    expect(script).toMatch(/^ {4}prune\) words='--failed --dry-run --json .*'/m);
    expect(script).toMatch(/^ {4}--config\|--record\) COMPREPLY=\(\$\(compgen -f/m);
    expect(script).toMatch(
      /^ {4}--set\|--pid\|--tty\|--kernel\|--pre\|--run\|--since\|--wait\) COMPREPLY=\(\)/m,
    );
  });
});
