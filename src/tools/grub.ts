/**
 * GRUB adapter: the menu entry that boots a given kernel, read from grub.cfg, and
 * the one-shot `next_entry` of GRUB's environment block, through grub-editenv.
 *
 * Debian's grub.cfg (grub-mkconfig's 00_header) boots `next_entry` once when it is
 * set, whatever GRUB_DEFAULT says, and clears it as it boots it; `grub-reboot` is
 * only `grub-editenv FILE set next_entry=ENTRY`. An entry in a submenu is named
 * `SUBMENU_ID>ENTRY_ID`.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { Runner } from './runner.js';

/** Where grub-install puts GRUB's config and environment block, under the boot directory. */
export function grubFiles(boot: string): { cfg: string; env: string } {
  return { cfg: join(boot, 'grub', 'grub.cfg'), env: join(boot, 'grub', 'grubenv') };
}

/** GRUB's own variable: the entry to boot once. */
const NEXT_ENTRY = 'next_entry';

/** `grub-editenv --version` proves it runs: TOOL_MISSING when it is not installed. */
export async function probeGrubEditenv(runner: Runner): Promise<void> {
  await runner.run({ file: 'grub-editenv', args: ['--version'], timeoutMs: 10_000 });
}

/**
 * The one-shot entry the environment block holds now; undefined when none (GRUB
 * clears it by setting it empty). `list` creates a missing block, as `set` would.
 */
export async function readNextEntry(runner: Runner, envFile: string): Promise<string | undefined> {
  const result = await runner.run({
    file: 'grub-editenv',
    args: [envFile, 'list'],
    timeoutMs: 10_000,
  });
  const line = result.stdout.split('\n').find((l) => l.startsWith(`${NEXT_ENTRY}=`));
  const value = line?.slice(NEXT_ENTRY.length + 1);
  return value ? value : undefined;
}

/** What grub-reboot does: the next boot, and only that one, boots `entry`. */
export async function setNextEntry(runner: Runner, envFile: string, entry: string): Promise<void> {
  await runner.run({
    file: 'grub-editenv',
    args: [envFile, 'set', `${NEXT_ENTRY}=${entry}`],
    timeoutMs: 10_000,
  });
}

export async function unsetNextEntry(runner: Runner, envFile: string): Promise<void> {
  await runner.run({
    file: 'grub-editenv',
    args: [envFile, 'unset', NEXT_ENTRY],
    timeoutMs: 10_000,
  });
}

/** grub.cfg is a few KB; anything this large is not one grub-mkconfig wrote. */
const MAX_CFG_BYTES = 4 * 1024 * 1024;

/** The entry that boots `version`, as next_entry names it; or why there is none. */
export type KernelEntry = { entry: string } | { none: string };

/**
 * The menu entry of grub.cfg that boots kernel `version` the normal way: Debian's
 * 10_linux names it `gnulinux-VERSION-advanced-DEVICE` (its recovery and init=
 * entries are other ids), and its `linux` line loads that kernel's vmlinuz. A file
 * that does not parse, or whose entries do not agree, gives none: a wrong entry
 * would send the fallback boot to another kernel.
 */
export function kernelEntry(cfgFile: string, version: string): KernelEntry {
  let text: string;
  try {
    if (statSync(cfgFile).size > MAX_CFG_BYTES)
      return { none: `${cfgFile} is over ${MAX_CFG_BYTES} bytes` };
    text = readFileSync(cfgFile, 'utf8');
  } catch (error) {
    return { none: `${cfgFile} cannot be read: ${(error as Error).message}` };
  }
  if (!honoursNextEntry(text))
    return {
      none: `${cfgFile} does not boot next_entry once (it was not written by grub-mkconfig)`,
    };
  const entries = menuEntries(text);
  if ('none' in entries) return { none: `${cfgFile}: ${entries.none}` };
  const found = entries.list.find((e) => bootsKernel(e, version));
  if (!found) return { none: `no menu entry of ${cfgFile} boots the running kernel ${version}` };
  if (!found.path.every((id) => SAFE_ID.test(id)))
    return { none: `the entry of ${version} in ${cfgFile} has an id next_entry cannot name` };
  return { entry: found.path.join('>') };
}

/** 00_header's block that boots next_entry once and then clears it. */
function honoursNextEntry(text: string): boolean {
  return /set\s+default="\$\{next_entry\}"/.test(text) && /save_env\s+next_entry\b/.test(text);
}

/** Ids as 10_linux writes them (a kernel release, a file system UUID): nothing GRUB would read as a separator. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._+~:-]*$/;

function bootsKernel(e: MenuEntry, version: string): boolean {
  const id = e.path.at(-1) ?? '';
  const image = e.linux === undefined ? '' : basename(e.linux);
  return (
    id.startsWith(`gnulinux-${version}-advanced-`) &&
    (image === `vmlinuz-${version}` || image === `vmlinuz-${version}.efi.signed`)
  );
}

export interface MenuEntry {
  /** The ids of its submenus, outermost first, then its own. */
  path: string[];
  /** The image its `linux` command loads, if it has one. */
  linux: string | undefined;
}

/** A block being read: a submenu, a menu entry, or anything else in braces (a function). */
interface Frame {
  kind: 'submenu' | 'menuentry' | 'other';
  id: string | undefined;
  entry: MenuEntry | undefined;
}

/**
 * Every menu entry of a grub.cfg, with its submenus' ids and its `linux` image.
 * Blocks are GRUB script's braces, standalone and unquoted; a brace that closes
 * nothing, a block left open, or a quote left open is a file we do not read.
 */
export function menuEntries(text: string): { list: MenuEntry[] } | { none: string } {
  const tokens = tokenize(text);
  if (tokens === undefined) return { none: 'a quote is left open' };
  const list: MenuEntry[] = [];
  const stack: Frame[] = [];
  let command: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'word') command.push(token.text);
    else if (token.kind === 'open') {
      const frame = openFrame(command, stack);
      if (frame.entry) list.push(frame.entry);
      stack.push(frame);
      command = [];
    } else if (token.kind === 'close') {
      endCommand(command, stack);
      if (stack.pop() === undefined) return { none: 'a brace closes no block' };
      command = [];
    } else {
      endCommand(command, stack);
      command = [];
    }
  }
  if (stack.length > 0) return { none: 'a block is left open' };
  return { list };
}

/** `menuentry TITLE [options] $menuentry_id_option ID {`: the id follows the option (or --id). */
function openFrame(header: readonly string[], stack: readonly Frame[]): Frame {
  const kind = header[0] === 'submenu' || header[0] === 'menuentry' ? header[0] : 'other';
  const at = header.findIndex((w) => w === '$menuentry_id_option' || w === '--id');
  const id = at === -1 ? undefined : header[at + 1];
  if (kind !== 'menuentry') return { kind, id, entry: undefined };
  const path = [...stack.filter((f) => f.kind === 'submenu').map((f) => f.id ?? ''), id ?? ''];
  return { kind, id, entry: { path, linux: undefined } };
}

/** A `linux` command in the innermost menu entry names its image. */
function endCommand(command: readonly string[], stack: readonly Frame[]): void {
  const entry = stack.at(-1)?.entry;
  if (entry && ['linux', 'linuxefi', 'linux16'].includes(command[0] ?? ''))
    entry.linux ??= command[1];
}

type Token = { kind: 'word'; text: string } | { kind: 'open' | 'close' | 'end' };

/**
 * GRUB script's words: single quotes take everything to the next one, double
 * quotes and a backslash outside quotes escape one character, a `#` starting a
 * word comments out the line; a newline or `;` ends a command. Variables are left
 * as written. Undefined when a quote is never closed.
 */
function tokenize(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  const endWord = () => {
    if (!inWord) return;
    if (!quoted && (word === '{' || word === '}'))
      tokens.push({ kind: word === '{' ? 'open' : 'close' });
    else tokens.push({ kind: 'word', text: word });
    word = '';
    inWord = false;
    quoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close === -1) return undefined;
      word += text.slice(i + 1, close);
      inWord = quoted = true;
      i = close;
    } else if (c === '"') {
      const read = doubleQuoted(text, i + 1);
      if (read === undefined) return undefined;
      word += read.text;
      inWord = quoted = true;
      i = read.end;
    } else if (c === '\\') {
      i++;
      if (text[i] !== '\n') word += text[i] ?? '';
      inWord = quoted = true;
    } else if (c === '#' && !inWord) {
      const eol = text.indexOf('\n', i);
      i = (eol === -1 ? text.length : eol) - 1;
    } else if (c === '\n' || c === ';') {
      endWord();
      tokens.push({ kind: 'end' });
    } else if (c === ' ' || c === '\t' || c === '\r') endWord();
    else {
      word += c;
      inWord = true;
    }
  }
  endWord();
  return tokens;
}

/** A double-quoted string from `start` (after its quote): its text, and the index of its closing quote. */
function doubleQuoted(text: string, start: number): { text: string; end: number } | undefined {
  let out = '';
  for (let i = start; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"') return { text: out, end: i };
    // Within double quotes a backslash escapes only these; before any other character it stays.
    if (c === '\\' && '$"\\\n'.includes(text[i + 1] ?? 'x')) {
      i++;
      if (text[i] !== '\n') out += text[i];
    } else out += c;
  }
  return undefined;
}
