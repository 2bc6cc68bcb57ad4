/**
 * The Debian package, built from this tree's fresh build (needs dpkg-dev and
 * lintian, which scripts/setup-host.sh installs, and root for the maintainer
 * scripts, which run in a mount namespace of their own over tmpfs): its files,
 * its control fields and conffile, what it runs, lintian, and what remove and
 * purge leave. The guest tests install it for real (test/guest/e2e.test.ts ends
 * with remove and purge there).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import pkg from '../../package.json' with { type: 'json' };
import { buildPackage } from '../../scripts/deb.js';
import { debFile } from '../../scripts/deb-name.js';
import { loadConfig } from '../../src/config/load.js';
import { configReference } from '../../src/config/reference.js';
import { copyOfBuild } from '../helpers/built.js';
import { requireCommand, requireRoot } from '../helpers/require.js';

let deb: string;
/** The package's tree, as dpkg-deb -x unpacks it, and its control files. */
let tree: string;
let control: string;

beforeAll(() => {
  requireCommand('dpkg-shlibdeps', 'dpkg-dev');
  requireCommand('lintian', 'lintian');
  const out = mkdtempSync(join(tmpdir(), 'kl-deb-out-'));
  const started = Date.now();
  deb = buildPackage({ build: dirname(copyOfBuild('kl-deb-build-')), outDir: out });
  console.log(`[package] built ${deb} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  tree = mkdtempSync(join(tmpdir(), 'kl-deb-tree-'));
  control = mkdtempSync(join(tmpdir(), 'kl-deb-control-'));
  execFileSync('dpkg-deb', ['-x', deb, tree]);
  execFileSync('dpkg-deb', ['-e', deb, control]);
}, 120_000);

const field = (name: string) => execFileSync('dpkg-deb', ['-f', deb, name]).toString().trim();

describe('the Debian package', () => {
  it('is kernel-leap_VERSION_amd64.deb with the runtime, the bundle, the launcher, the units, the config and the docs', () => {
    expect(deb).toBe(debFile(dirname(deb)));
    expect(deb).toMatch(new RegExp(`/kernel-leap_${pkg.version}_amd64\\.deb$`));
    const files = execFileSync('dpkg-deb', ['-c', deb])
      .toString()
      .split('\n')
      .filter((l) => l && !l.startsWith('d'))
      .map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''))
      .map((path) => path.replace(/chunks\/.*\.mjs$/, 'chunks/*.mjs'));
    expect([...new Set(files)].sort()).toEqual([
      '/etc/kernel-leap/kernel-leap.conf',
      '/usr/bin/kernel-leap',
      '/usr/lib/kernel-leap/chunks/*.mjs',
      '/usr/lib/kernel-leap/kernel-leap.mjs',
      '/usr/lib/kernel-leap/node',
      '/usr/lib/systemd/system/kernel-leap-auto.service',
      '/usr/lib/systemd/system/kernel-leap-auto.timer',
      '/usr/lib/systemd/system/kernel-leap-upload.service',
      '/usr/lib/systemd/system/kernel-leap-upload.timer',
      '/usr/share/bash-completion/completions/kernel-leap',
      '/usr/share/doc/kernel-leap/changelog.gz',
      '/usr/share/doc/kernel-leap/copyright',
      '/usr/share/lintian/overrides/kernel-leap',
      '/usr/share/man/man8/kernel-leap.8.gz',
    ]);
  });

  it('depends on the tools kernel-leap runs and the libraries its Node links', () => {
    expect(field('Package')).toBe('kernel-leap');
    expect(field('Version')).toBe(pkg.version);
    expect(field('Architecture')).toBe('amd64');
    expect(field('Section')).toBe('admin');
    const depends = field('Depends').split(', ');
    expect(depends).toEqual(
      expect.arrayContaining(['criu (>= 3.17)', 'kexec-tools', 'iptables', 'iproute2', 'systemd']),
    );
    expect(depends.find((d) => d.startsWith('libc6 (>= '))).toBeDefined();
    expect(Number(field('Installed-Size'))).toBeGreaterThan(100_000);
  });

  it('ships its config as a conffile: every key commented out, loading as the defaults', () => {
    expect(readFileSync(join(control, 'conffiles'), 'utf8')).toBe(
      '/etc/kernel-leap/kernel-leap.conf\n',
    );
    const conf = join(tree, 'etc/kernel-leap/kernel-leap.conf');
    expect(readFileSync(conf, 'utf8')).toBe(configReference());
    expect(loadConfig({ file: conf, env: {} }).config).toEqual(
      loadConfig({ file: undefined, env: {} }).config,
    );
  });

  it("runs its own Node, 22 or newer: the launcher's and the units' (through the launcher)", () => {
    const node = join(tree, 'usr/lib/kernel-leap/node');
    const version = execFileSync(node, ['--version']).toString().trim();
    expect(Number(/^v(\d+)\./.exec(version)?.[1])).toBeGreaterThanOrEqual(22);
    const launcher = readFileSync(join(tree, 'usr/bin/kernel-leap'), 'utf8');
    expect(launcher).toContain("PACKAGED_NODE='/usr/lib/kernel-leap/node'");
    expect(launcher).toContain("PACKAGED_BUNDLE='/usr/lib/kernel-leap/kernel-leap.mjs'");
    // The unpacked tree stands where the package would put it.
    const printed = execFileSync('/bin/sh', [join(tree, 'usr/bin/kernel-leap'), '--version'], {
      env: {
        PATH: '/usr/bin:/bin',
        KERNEL_LEAP_NODE: node,
        KERNEL_LEAP_BUNDLE: join(tree, 'usr/lib/kernel-leap/kernel-leap.mjs'),
      },
    }).toString();
    expect(printed).toBe(`kernel-leap ${pkg.version}\n`);
    const units = join(tree, 'usr/lib/systemd/system');
    for (const unit of readdirSync(units).filter((u) => u.endsWith('.service')))
      expect(readFileSync(join(units, unit), 'utf8'), unit).toMatch(
        /^ExecStart=\/usr\/bin\/kernel-leap [a-z-]+$/m,
      );
  });

  it('has a manual page that man renders without a warning', () => {
    requireCommand('man', 'man-db');
    const page = join(tree, 'usr/share/man/man8/kernel-leap.8.gz');
    const shown = spawnSync('man', ['--warnings', '-l', page], {
      env: { ...process.env, MANWIDTH: '80' },
    });
    expect(shown.stderr.toString()).toBe('');
    // Piped, man overstrikes bold and underlined text (c BS c): read it plain.
    expect(shown.stdout.toString().replace(/.\x08/g, '')).toMatch(
      /NAME\s+kernel-leap - carry a live ssh session/,
    );
  });

  it('completes commands and their options in bash, with nothing from bash-completion', () => {
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        [
          '--norc',
          '-c',
          'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kernel_leap; echo "${COMPREPLY[*]}"',
          join(tree, 'usr/share/bash-completion/completions/kernel-leap'),
          ...words,
        ],
        { env: { PATH: '/usr/bin:/bin' } },
      )
        .toString()
        .trim();
    expect(complete('kernel-leap', 'pl')).toBe('plan');
    expect(complete('kernel-leap', 'up')).toBe('upgrade upload-logs');
    expect(complete('kernel-leap', '--config', '/etc/x.conf', 'reh')).toBe('rehearse');
    expect(complete('kernel-leap', 'prune', '--d')).toBe('--dry-run');
    expect(complete('kernel-leap', 'help', 'ru')).toBe('runs');
    expect(complete('kernel-leap', 'upgrade', '--kernel', '')).toBe('');
    expect(complete('kernel-leap', 'wor')).toBe('');
  });

  it('passes lintian', () => {
    const result = spawnSync('lintian', ['--fail-on', 'error,warning', deb]);
    const said = result.stdout.toString();
    expect(said.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(result.status).toBe(0);
  }, 180_000);
});

/**
 * A maintainer script run as dpkg runs it, as root, in a mount namespace of its
 * own where /etc/systemd/system, /etc/network and /var/lib are empty tmpfs: what
 * `setup` puts there is all it sees, and nothing of this host is touched.
 */
function runScript(script: string, action: string, setup: string, after: string) {
  requireRoot();
  // /etc is overlaid first, so /etc/network can be made where ifupdown is not installed.
  const scratch = mkdtempSync(join(tmpdir(), 'kl-maint-'));
  const body = [
    'set -e',
    `mount -t tmpfs kl ${scratch} && mkdir ${scratch}/upper ${scratch}/work`,
    `mount -t overlay kl -o lowerdir=/etc,upperdir=${scratch}/upper,workdir=${scratch}/work /etc`,
    'mkdir -p /etc/systemd/system /etc/network',
    'for dir in /etc/systemd/system /etc/network /var/lib; do mount -t tmpfs kl "$dir"; done',
    setup,
    `sh ${join(control, script)} ${action}`,
    `echo ---; ${after}`,
  ].join('\n');
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', body]);
  rmSync(scratch, { recursive: true, force: true });
  expect(result.status, result.stderr.toString()).toBe(0);
  const [, left = ''] = result.stdout.toString().split('---\n');
  return { left: left.split('\n').filter(Boolean).sort(), said: result.stderr.toString() };
}

const LEAP_LEFTOVERS = [
  'mkdir -p /etc/systemd/system/timers.target.wants /etc/systemd/system/multi-user.target.wants /etc/systemd/system/network-pre.target.wants /etc/network/if-pre-up.d /var/lib/kernel-leap/runs/R1',
  'ln -s /usr/lib/systemd/system/kernel-leap-auto.timer /etc/systemd/system/timers.target.wants/',
  'ln -s /usr/lib/systemd/system/kernel-leap-upload.timer /etc/systemd/system/timers.target.wants/',
  'for u in restore rules; do echo "[Unit]" > /etc/systemd/system/kernel-leap-$u.service; done',
  'ln -s /etc/systemd/system/kernel-leap-restore.service /etc/systemd/system/multi-user.target.wants/',
  'ln -s /etc/systemd/system/kernel-leap-rules.service /etc/systemd/system/network-pre.target.wants/',
  'ln -s /usr/lib/systemd/system/other.timer /etc/systemd/system/timers.target.wants/',
  'touch /etc/network/if-pre-up.d/kernel-leap /etc/network/if-pre-up.d/other /var/lib/kernel-leap/lock-rules.v4',
].join('\n');

describe("the package's maintainer scripts", () => {
  it('remove leaves no kernel-leap unit enabled, no boot unit, no hook, no lock rules, and keeps the runs', () => {
    const { left, said } = runScript(
      'prerm',
      'remove',
      `${LEAP_LEFTOVERS}\necho R1 > /var/lib/kernel-leap/pending`,
      'find /etc/systemd/system /etc/network /var/lib/kernel-leap -mindepth 1 ! -type d',
    );
    expect(left).toEqual([
      '/etc/network/if-pre-up.d/other',
      '/etc/systemd/system/timers.target.wants/other.timer',
      '/var/lib/kernel-leap/pending',
    ]);
    expect(said).toMatch(/runs pending a restore: R1 .*kernel-leap restore --run ID/);
  });

  it('an upgrade keeps what a leap installed for its boot: the new version restores it', () => {
    const { left } = runScript(
      'prerm',
      'upgrade',
      LEAP_LEFTOVERS,
      'find /etc/systemd/system -name "kernel-leap-*" | wc -l',
    );
    expect(left).toEqual(['6']);
  });

  it('purge removes the state dir, but for the runs still pending a restore, and says so', () => {
    const { left, said } = runScript(
      'postrm',
      'purge',
      [
        'mkdir -p /var/lib/kernel-leap/runs/R1/images /var/lib/kernel-leap/runs/R2 /var/lib/kernel-leap/runs/R3 /var/lib/kernel-leap/spool',
        'touch /var/lib/kernel-leap/runs/R1/images/pages-1.img /var/lib/kernel-leap/runs/R2/journal.json /var/lib/kernel-leap/.x',
        'ln -s runs/R2 /var/lib/kernel-leap/latest',
        "printf 'R1\\n../../etc\\n' > /var/lib/kernel-leap/pending",
        'echo R3 > /var/lib/kernel-leap/restoring',
      ].join('\n'),
      'find /var/lib/kernel-leap',
    );
    expect(left).toEqual([
      '/var/lib/kernel-leap',
      '/var/lib/kernel-leap/pending',
      '/var/lib/kernel-leap/restoring',
      '/var/lib/kernel-leap/runs',
      '/var/lib/kernel-leap/runs/R1',
      '/var/lib/kernel-leap/runs/R1/images',
      '/var/lib/kernel-leap/runs/R1/images/pages-1.img',
      '/var/lib/kernel-leap/runs/R3',
    ]);
    expect(said).toContain(
      'kernel-leap: purge kept /var/lib/kernel-leap: runs pending a restore: R1 R3',
    );
  });

  it('purge with no run pending removes the whole state dir, silently', () => {
    const { left, said } = runScript(
      'postrm',
      'purge',
      'mkdir -p /var/lib/kernel-leap/runs/R1 && touch /var/lib/kernel-leap/runs/R1/journal.json',
      'ls /var/lib',
    );
    expect(left).toEqual([]);
    expect(said).toBe('');
  });
});
