/** Asks each external tool for its version. A missing tool is a finding, not a crash. */
import { isLeapError } from '../errors.js';
import type { Runner } from './runner.js';

export interface ToolProbe {
  tool: string;
  args: string[];
  /** Pulls the version out of the tool's output. */
  pattern: RegExp;
}

export const TOOL_PROBES: readonly ToolProbe[] = [
  { tool: 'criu', args: ['--version'], pattern: /Version:\s*(\S+)/ },
  // crit has no --version; its help proves it runs (it needs python3-protobuf).
  { tool: 'crit', args: ['--help'], pattern: /(usage): crit/ },
  { tool: 'kexec', args: ['--version'], pattern: /kexec-tools\s+(\S+)/ },
  { tool: 'iptables-save', args: ['--version'], pattern: /\sv(\d\S*(?: \([^)]*\))?)/ },
  { tool: 'iptables-restore', args: ['--version'], pattern: /\sv(\d\S*(?: \([^)]*\))?)/ },
  { tool: 'unshare', args: ['--version'], pattern: /util-linux\s+(\S+)/ },
  { tool: 'systemctl', args: ['--version'], pattern: /systemd\s+(\d+)/ },
];

export interface ToolVersion {
  tool: string;
  installed: boolean;
  version?: string;
  error?: string;
  /** It did not answer within PROBE_TIMEOUT_MS: slow (a busy machine, crit's Python start under emulation), not proven broken. */
  timedOut?: boolean;
}

/** The probes run at once; under TCG with other guests busy, crit's Python start alone took over 20 s. */
export const PROBE_TIMEOUT_MS = 60_000;

export async function probeTool(runner: Runner, probe: ToolProbe): Promise<ToolVersion> {
  try {
    const result = await runner.run({
      file: probe.tool,
      args: probe.args,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    const match = probe.pattern.exec(`${result.stdout}\n${result.stderr}`);
    return {
      tool: probe.tool,
      installed: true,
      version: match?.[1] === 'usage' ? 'present' : (match?.[1] ?? 'unknown'),
    };
  } catch (error) {
    if (isLeapError(error) && error.code === 'TOOL_MISSING')
      return { tool: probe.tool, installed: false };
    const timedOut = isLeapError(error) && error.code === 'COMMAND_TIMEOUT';
    return {
      tool: probe.tool,
      installed: true,
      error: error instanceof Error ? error.message : String(error),
      ...(timedOut ? { timedOut } : {}),
    };
  }
}

/** The installed CRIU's version text (e.g. 4.1.1), or undefined when criu is missing or says none. */
export async function criuVersion(runner: Runner): Promise<string | undefined> {
  const probe = TOOL_PROBES.find((p) => p.tool === 'criu');
  if (!probe) return undefined;
  const found = await probeTool(runner, probe);
  return found.version && criuVersionNumber(found.version) !== undefined
    ? found.version
    : undefined;
}

/** 3.17.1 -> 31701, as go-criu and podman compare versions. */
export function criuVersionNumber(version: string): number | undefined {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!match) return undefined;
  return Number(match[1]) * 10000 + Number(match[2]) * 100 + Number(match[3] ?? 0);
}
