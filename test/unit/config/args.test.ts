import { describe, expect, it } from 'vitest';

import { parseArgList } from '../../../src/config/args.js';
import { loadConfig } from '../../../src/config/load.js';

const args = (text: string) => parseArgList(text);
const refused = (text: string) => {
  const parsed = parseArgList(text);
  return parsed.ok ? `accepted ${JSON.stringify(parsed.args)}` : parsed.problem;
};

describe('a list-of-arguments setting', () => {
  it('splits on whitespace and keeps a quoted argument whole', () => {
    expect(args('--a "b c"')).toEqual({ ok: true, args: ['--a', 'b c'] });
    expect(args("--action-script '/opt/my hook.sh'  --ghost-limit\t64M")).toEqual({
      ok: true,
      args: ['--action-script', '/opt/my hook.sh', '--ghost-limit', '64M'],
    });
    expect(args('--x="a b"c')).toEqual({ ok: true, args: ['--x=a bc'] });
    expect(args('')).toEqual({ ok: true, args: [] });
  });

  it("takes an apostrophe inside double quotes, escaped, or as '\\''", () => {
    expect(args(`--note "it's"`)).toEqual({ ok: true, args: ['--note', "it's"] });
    expect(args("--note it\\'s")).toEqual({ ok: true, args: ['--note', "it's"] });
    expect(args("--note 'it'\\''s'")).toEqual({ ok: true, args: ['--note', "it's"] });
  });

  it('refuses an unclosed quote and a trailing backslash, which shell-quote would read as closed', () => {
    expect(refused("--note it's")).toMatch(/a ' is not closed; for an apostrophe write "it's"/);
    expect(refused('--note "a b')).toBe('a " is not closed');
    expect(refused('--note a\\')).toMatch(/lone backslash/);
  });

  it('refuses shell operators, globs, comments and variables, and takes them quoted', () => {
    expect(refused('--a ; rm -rf /')).toBe(
      "; is a shell operator, and this is a list of arguments, not a command; write ';' to pass it in an argument",
    );
    expect(refused('--a | tee x')).toMatch(/^\| is a shell operator/);
    expect(refused('--a && b')).toMatch(/^&& is a shell operator/);
    expect(refused('--a > out')).toMatch(/^> is a shell operator/);
    expect(refused('--images *.img')).toMatch(/^\*\.img is a shell glob/);
    expect(refused('--a # note')).toMatch(/^# starts a shell comment/);
    expect(refused('--dir $HOME')).toMatch(
      /^\$HOME is a shell variable, which is not expanded here; write '\$HOME'/,
    );
    expect(refused('--dir "$HOME"')).toMatch(/^\$HOME is a shell variable/);
    expect(refused('--x $(id)')).toMatch(/^\$ starts a shell substitution/);
    expect(args("--a ';' '*.img' '#' '$HOME' a\\;b")).toEqual({
      ok: true,
      args: ['--a', ';', '*.img', '#', '$HOME', 'a;b'],
    });
  });

  it('is how the config reads criu.extra_dump_args and criu.extra_restore_args, from every source', () => {
    const { config } = loadConfig({
      env: { KERNEL_LEAP_CRIU_EXTRA_RESTORE_ARGS: `--note "it's"` },
      overrides: ['criu.extra_dump_args=--a "b c"'],
    });
    expect(config.criu.extra_dump_args).toEqual(['--a', 'b c']);
    expect(config.criu.extra_restore_args).toEqual(['--note', "it's"]);
  });

  it('refuses a ; with a config error that names the key, the value and why', () => {
    expect(() =>
      loadConfig({ env: {}, overrides: ['criu.extra_dump_args=--a ; reboot'] }),
    ).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        exit: 7,
        message:
          'flag --set: criu.extra_dump_args = "--a ; reboot" is not a list of shell-quoted arguments',
        hint: "; is a shell operator, and this is a list of arguments, not a command; write ';' to pass it in an argument",
      }),
    );
    expect(() => loadConfig({ env: { KERNEL_LEAP_CRIU_EXTRA_RESTORE_ARGS: "it's" } })).toThrowError(
      /environment: criu.extra_restore_args = "it's" is not a list of shell-quoted arguments/,
    );
  });
});
