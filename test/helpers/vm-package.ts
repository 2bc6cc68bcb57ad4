/**
 * Installs the project's Debian package in a guest as a user would, with
 * `apt-get install ./kernel-leap_VERSION_amd64.deb` (`npm run package` builds it),
 * then writes the files a test sets beside it: its config, the credentials.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

import { DEFAULT_DEB } from '../../scripts/deb-name.js';
import { runInGuest, type VmConnection } from './vm-ssh.js';

/** A file written after the install, in the same ssh. */
export interface GuestFile {
  path: string;
  content: string;
  /** Octal, as chmod takes it. */
  mode: string;
}

export interface PackageOptions {
  /** Host path of the .deb; default dist/kernel-leap_VERSION_amd64.deb. */
  deb?: string;
  /** More files to write (the config, the credentials). */
  files?: readonly GuestFile[];
}

/** apt-get unpacks 107 MB of Node under TCG: about half a minute on an idle host. */
const INSTALL_TIMEOUT_MS = 300_000;

/**
 * One ssh for all of it: each ssh costs the guest a key exchange, a second or
 * more under TCG. The .deb goes on stdin; the files go base64-encoded in the
 * command (no quoting to get wrong), after the install, so that dpkg finds no
 * config of someone else's where its conffile goes.
 */
export async function installPackage(c: VmConnection, options: PackageOptions = {}): Promise<void> {
  const deb = options.deb ?? DEFAULT_DEB;
  if (!existsSync(deb)) throw new Error(`${deb} is missing: run \`npm run package\` first`);
  const guestDeb = `/root/${basename(deb)}`;
  const started = Date.now();
  const uptime = 'cut -d" " -f1 /proc/uptime';
  const said = await runInGuest(
    c,
    [
      `begun=$(${uptime})`,
      `cat > ${guestDeb}`,
      `received=$(${uptime})`,
      `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${guestDeb} > /root/kernel-leap-install.log 2>&1 || { tail -n 30 /root/kernel-leap-install.log >&2; exit 1; }`,
      `echo "$begun $received $(${uptime})"`,
      `rm -f ${guestDeb}`,
      ...(options.files ?? []).map(writeFile),
    ].join(' && '),
    { inputFile: deb, timeoutMs: INSTALL_TIMEOUT_MS },
  );
  // Where the time goes, by the guest's clock: the copy over ssh, then apt-get.
  const [begun = 0, received = 0, installed = 0] = said.trim().split(' ').map(Number);
  const mb = (statSync(deb).size / 1e6).toFixed(1);
  console.log(
    `installed ${basename(deb)} (${mb} MB) with apt-get in ${((Date.now() - started) / 1000).toFixed(1)} s: copy ${(received - begun).toFixed(1)} s, apt-get ${(installed - received).toFixed(1)} s`,
  );
}

/** Created under umask 077, so a secret is never readable by others on its way to its mode. */
function writeFile(file: GuestFile): string {
  const base64 = Buffer.from(file.content).toString('base64');
  return `mkdir -p ${dirname(file.path)} && (umask 077 && echo '${base64}' | base64 -d > ${file.path}) && chmod ${file.mode} ${file.path}`;
}
