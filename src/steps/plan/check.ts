/**
 * `check`: what the host can tell before anything is planned. Each finding is
 * ok, warn or fail, and every warn or fail says what to do.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { LAYOUT, MIN_NODE_MAJOR } from '../../config/layout.js';
import type { SelfCommand } from '../../config/self-command.js';
import { criuAbilities, criuLabel, MIN_CRIU } from '../../tools/criu-features.js';
import { freeBytes, hostFacts, type InstalledKernel, installedKernels } from '../../tools/facts.js';
import { type NetworkStack, networkStacks } from '../../tools/network-stack.js';
import { packageFor } from '../../tools/packages.js';
import type { Runner } from '../../tools/runner.js';
import {
  criuVersionNumber,
  probeTool,
  TOOL_PROBES,
  type ToolVersion,
} from '../../tools/versions.js';
import { networkStackNotes, type StackNote } from './network.js';

export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  level: Level;
  item: string;
  detail: string;
  hint?: string;
}

export interface CheckInput {
  runner: Runner;
  stateDir: string;
  uid: number;
  /** The node and bundle the boot units will run (config/self-command.ts). */
  runtime: SelfCommand;
  /** This process's node: its version needs no probe when the units run the same one. */
  ownNode: { path: string; version: string };
}

export interface CheckOutput {
  findings: Finding[];
  kernel: string;
  kernels: InstalledKernel[];
  tools: ToolVersion[];
  networkStacks: NetworkStack[];
  verdict: Level;
}

const MIN_FREE_BYTES = 512 * 1024 * 1024;

export async function runCheck(input: CheckInput): Promise<CheckOutput> {
  const facts = await hostFacts();
  const [tools, stacks, node] = await Promise.all([
    Promise.all(TOOL_PROBES.map((probe) => probeTool(input.runner, probe))),
    networkStacks(input.runner),
    runtimeNode(input),
  ]);
  const kernels = installedKernels();
  const findings: Finding[] = [
    rootFinding(input.uid),
    nodeFinding(node),
    bundleFinding(input.runtime.bundle),
    ...tools.map(toolFinding),
    ...criuFindings(tools),
    ...networkStackNotes(stacks).map(stackFinding),
    {
      level: 'ok',
      item: 'running kernel',
      detail: `${facts.kernel} (${facts.distro}, ${facts.arch})`,
    },
    kernelsFinding(kernels, facts.kernel),
    spaceFinding(input.stateDir),
  ];
  const criu = tools.find((t) => t.tool === 'criu');
  if (input.uid === 0 && criu?.installed)
    findings.push(await criuCheckFinding(input.runner, criu.version));
  return {
    findings,
    kernel: facts.kernel,
    kernels,
    tools,
    networkStacks: stacks,
    verdict: worst(findings),
  };
}

export function worst(findings: readonly Finding[]): Level {
  if (findings.some((f) => f.level === 'fail')) return 'fail';
  return findings.some((f) => f.level === 'warn') ? 'warn' : 'ok';
}

function rootFinding(uid: number): Finding {
  return uid === 0
    ? { level: 'ok', item: 'root', detail: 'running as root' }
    : {
        level: 'fail',
        item: 'root',
        detail: `running as uid ${uid}`,
        hint: 'CRIU and kexec need root: rerun with sudo',
      };
}

const RUNTIME_HINT = `reinstall the kernel-leap package (it brings Node ${MIN_NODE_MAJOR} in ${LAYOUT.libDir}), or set [paths] node and bundle`;

/** The node the boot units will run, asked for its version unless it is this very process's. */
async function runtimeNode(input: CheckInput): Promise<ToolVersion> {
  const path = input.runtime.node;
  if (path === input.ownNode.path)
    return { tool: path, installed: true, version: input.ownNode.version.replace(/^v/, '') };
  return probeTool(input.runner, { tool: path, args: ['--version'], pattern: /^v(\d\S*)/m });
}

export function nodeFinding(node: ToolVersion): Finding {
  const where = `the boot units' node ${node.tool}`;
  if (!node.installed || node.error)
    return {
      level: 'fail',
      item: 'node',
      detail: node.installed ? `${where} fails: ${node.error}` : `${where} is missing`,
      hint: RUNTIME_HINT,
    };
  const major = Number(/^(\d+)\./.exec(node.version ?? '')?.[1] ?? 0);
  return major >= MIN_NODE_MAJOR
    ? { level: 'ok', item: 'node', detail: `${node.version} at ${node.tool}` }
    : {
        level: 'fail',
        item: 'node',
        detail: `${where} is ${node.version}, need >= ${MIN_NODE_MAJOR}`,
        hint: RUNTIME_HINT,
      };
}

/** The entry the boot units run, and the chunks it loads on demand (the S3 client among them). */
export function bundleFinding(bundle: string): Finding {
  const missing = [bundle, join(dirname(bundle), 'chunks')].filter((path) => !existsSync(path));
  return missing.length === 0
    ? { level: 'ok', item: 'bundle', detail: bundle }
    : {
        level: 'fail',
        item: 'bundle',
        detail: `the boot units' bundle is incomplete: ${missing.join(', ')} missing`,
        hint: RUNTIME_HINT,
      };
}

export function toolFinding(tool: ToolVersion): Finding {
  if (!tool.installed)
    return {
      level: 'fail',
      item: tool.tool,
      detail: 'not installed',
      hint: `apt-get install ${packageFor(tool.tool) ?? tool.tool}`,
    };
  if (tool.timedOut)
    return {
      level: 'warn',
      item: tool.tool,
      detail: `installed, but did not answer in time: ${tool.error}`,
      hint: 'the machine may be busy: run check again when it is quieter; rehearse proves the tools for real',
    };
  if (tool.error)
    return {
      level: 'fail',
      item: tool.tool,
      detail: `installed but fails: ${tool.error}`,
      hint: `reinstall ${packageFor(tool.tool) ?? tool.tool}`,
    };
  if (tool.tool === 'criu' && (criuVersionNumber(tool.version ?? '') ?? 0) < MIN_CRIU.number) {
    return {
      level: 'fail',
      item: 'criu',
      detail: `version ${tool.version} found, ${MIN_CRIU.text} or newer needed`,
      hint: `install CRIU ${MIN_CRIU.text} or newer (Debian 12 has 3.17, Debian 13 has 4.1: apt-get install criu)`,
    };
  }
  return { level: 'ok', item: tool.tool, detail: tool.version ?? 'present' };
}

/** What the CRIU found can and cannot do, and how the dumped connections are locked with it. */
export function criuFindings(tools: readonly ToolVersion[]): Finding[] {
  const criu = tools.find((t) => t.tool === 'criu');
  if (
    !criu?.installed ||
    criu.error ||
    (criuVersionNumber(criu.version ?? '') ?? 0) < MIN_CRIU.number
  )
    return [];
  const abilities = criuAbilities(criu.version);
  const iptables = tools.find((t) => t.tool === 'iptables-save');
  const backend = /\((nf_tables|legacy)\)/.exec(iptables?.version ?? '')?.[1];
  return [
    {
      level: 'ok',
      item: 'criu can',
      detail: `${criuLabel(abilities)} ${abilities.can.length ? abilities.can.join('; ') : 'has none of the features newer versions add'}`,
    },
    { level: 'ok', item: 'criu cannot', detail: abilities.cannot.join('; ') },
    {
      level: 'ok',
      item: 'network lock',
      detail: `${abilities.networkLock.method}${backend ? ` (${backend} backend)` : ''}: ${abilities.networkLock.why}`,
    },
  ];
}

function stackFinding(note: StackNote): Finding {
  return {
    level: note.level,
    item: 'network stack',
    detail: note.message,
    ...(note.hint ? { hint: note.hint } : {}),
  };
}

function kernelsFinding(kernels: readonly InstalledKernel[], running: string): Finding {
  const targets = kernels.filter((k) => k.version !== running && k.initrd);
  const listed =
    kernels.map((k) => `${k.version}${k.initrd ? '' : ' (no initrd)'}`).join(', ') || 'none';
  if (targets.length === 0) {
    return {
      level: 'warn',
      item: 'kernels in /boot',
      detail: listed,
      hint: 'install the kernel to upgrade to (e.g. apt-get install linux-image-<version>) before `upgrade`',
    };
  }
  return {
    level: 'ok',
    item: 'kernels in /boot',
    detail: `${listed}; default target ${targets.at(-1)?.version}`,
  };
}

function spaceFinding(stateDir: string): Finding {
  const { path, bytes } = freeBytes(stateDir);
  const detail = `${(bytes / 2 ** 30).toFixed(1)} GiB free at ${path}`;
  return bytes >= MIN_FREE_BYTES
    ? { level: 'ok', item: 'state dir space', detail }
    : {
        level: 'warn',
        item: 'state dir space',
        detail,
        hint: `free space or set [paths] state_dir; images need about the session's memory size`,
      };
}

async function criuCheckFinding(runner: Runner, version: string | undefined): Promise<Finding> {
  try {
    await runner.run({ file: 'criu', args: ['check', '--no-default-config'], timeoutMs: 60_000 });
    return { level: 'ok', item: 'criu check', detail: 'the kernel supports what CRIU needs' };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const vdso = /vdso/i.test(text);
    return {
      level: 'fail',
      item: 'criu check',
      detail:
        text
          .split('\n')
          .find((l) => /Error/.test(l))
          ?.trim() ?? text.slice(0, 200),
      hint: vdso
        ? `${criuLabel(criuAbilities(version))} does not support the running kernel (vDSO layout); use a kernel it supports, such as its distribution's (Debian 12: 6.1 with CRIU 3.17; Debian 13: 6.12 with CRIU 4.1)`
        : 'run `criu check -v4` to see which kernel feature is missing',
    };
  }
}
