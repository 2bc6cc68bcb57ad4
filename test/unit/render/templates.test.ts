import { describe, expect, it } from 'vitest';
import { renderActionScript, renderIfPreUpHook, renderRestoreUnit, renderRulesUnit } from '../../../src/render/artefacts.js';
import { compileTemplate, lintTemplate } from '../../../src/render/templates.js';

const NASTY = "/var/lib/kernel leap/it's $HOME 100%";

/** systemd's Exec= word splitting for the quoting execArg produces (enough to prove argv). */
export function splitExecLine(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const word = m[1] !== undefined ? JSON.parse(`"${m[1]}"`) as string : (m[2] ?? '');
    words.push(word.replaceAll('%%', '%').replaceAll('$$', '$'));
  }
  return words;
}

describe('template lint', () => {
  it('rejects a bare value with file, line and column', () => {
    expect(() => lintTemplate('t.hbs', 'A=1\nB={{value}}\n')).toThrowError('t.hbs:2:3: {{value}} must be a quoting helper call');
  });

  it('rejects a triple stash', () => {
    expect(() => lintTemplate('t.hbs', 'X={{{sh value}}}')).toThrowError(/t.hbs:1:3: a triple stash/);
  });

  it('accepts quoting helpers, also inside #if and #each', () => {
    expect(() => lintTemplate('t.hbs', '{{#each xs}}{{sh this}}{{/each}}{{#if y}}{{execArg y}}{{/if}}')).not.toThrow();
    expect(() => lintTemplate('t.hbs', '{{#each xs}}{{this}}{{/each}}')).toThrowError(/must be a quoting helper/);
  });

  it('renders with strict mode: a missing value is an error, not an empty string', () => {
    const render = compileTemplate<{ a?: string }>('t.hbs', 'A={{sh a}}');
    expect(() => render({})).toThrowError(/argument is missing/);
  });
});

describe('rendered artefacts', () => {
  it('restore unit: ExecStart splits back into the exact argv', () => {
    const unit = renderRestoreUnit({ pendingFile: `${NASTY}/pending`, node: '/usr/local/bin/node', bundle: `${NASTY}/kl.mjs`, timeoutSec: 300, rulesUnit: 'kernel-leap-rules.service' });
    const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))?.slice('ExecStart='.length) ?? '';
    expect(splitExecLine(exec)).toEqual(['/usr/local/bin/node', `${NASTY}/kl.mjs`, 'restore', '--boot']);
    expect(unit).toContain('ConditionPathExists=/var/lib/kernel leap/it\'s $HOME 100%%/pending');
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).not.toMatch(/^Type=idle|^ExecStartPre=.*sleep/m);
  });

  it('rules unit loads with --noflush before network-pre.target', () => {
    const unit = renderRulesUnit({ rulesFile: `${NASTY}/rules`, iptablesRestore: '/usr/sbin/iptables-restore', marker: '/run/kernel-leap/rules-loaded' });
    const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))?.slice('ExecStart='.length) ?? '';
    expect(splitExecLine(exec)).toEqual(['/usr/sbin/iptables-restore', '--noflush', `${NASTY}/rules`]);
    expect(unit).toContain('Before=network-pre.target');
  });

  it('refuses a path with a newline instead of injecting a directive', () => {
    expect(() => renderRestoreUnit({ pendingFile: '/x\nExecStartPre=/bin/sh', node: '/n', bundle: '/b', timeoutSec: 1, rulesUnit: 'r' })).toThrowError(/NUL, CR or LF/);
  });

  it('hook and action script put each value once, quoted, at the top', () => {
    const hook = renderIfPreUpHook({ rulesFile: `${NASTY}/rules`, iptablesRestore: '/usr/sbin/iptables-restore', marker: '/run/kernel-leap/rules-loaded' });
    expect(hook).toContain(`RULES='/var/lib/kernel leap/it'\\''s $HOME 100%/rules'`);
    expect(renderActionScript({ pidFile: `${NASTY}/pid` })).toContain(`PID_FILE='/var/lib/kernel leap/it'\\''s $HOME 100%/pid'`);
  });
});
