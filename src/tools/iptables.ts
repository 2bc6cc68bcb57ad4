/**
 * CRIU's network lock rules (docs/criu-facts.md §1): two DROP rules per dumped connection,
 * matched on the 4-tuple and `! --mark 0xc114`. kexec wipes them, so they are saved
 * after the dump and loaded again before the network comes up.
 */
import type { Runner } from './runner.js';

const LOCK_MARK = /--mark 0xc114\b/i;

export type Family = 'ipv4' | 'ipv6';
const SAVE: Record<Family, string> = { ipv4: 'iptables-save', ipv6: 'ip6tables-save' };
const CLI: Record<Family, string> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/** The `-A CHAIN ...` specs of every lock rule in an iptables-save dump (counters dropped). */
export function lockRuleSpecs(saved: string): string[] {
  let table = '';
  const specs: string[] = [];
  for (const raw of saved.split('\n')) {
    const line = raw.replace(/^\[\d+:\d+\]\s+/, '').trim();
    if (line.startsWith('*')) table = line.slice(1);
    else if (table === 'filter' && line.startsWith('-A ') && LOCK_MARK.test(line)) specs.push(line);
  }
  return specs;
}

/** A file for `iptables-restore --noflush`: inserted at the top, as CRIU inserts them. */
export function lockRulesFile(specs: readonly string[]): string {
  if (specs.length === 0) return '';
  const inserted = specs.map((spec) => spec.replace(/^-A (\S+)/, '-I $1 1'));
  return ['*filter', ...inserted, 'COMMIT', ''].join('\n');
}

export async function saveRules(runner: Runner, family: Family): Promise<string> {
  return (await runner.run({ file: SAVE[family], args: ['-c'], timeoutMs: 30_000 })).stdout;
}

type Connection = { local: { ip: string; port: number }; peer: { ip: string; port: number } };

/** The lock rules in force now that name one of these connections. */
export async function lockRulesFor(
  runner: Runner,
  connections: readonly Connection[],
): Promise<string[]> {
  return lockRuleSpecs(await saveRules(runner, 'ipv4')).filter((spec) =>
    connections.some((c) => ruleMatchesConnection(spec, c.local, c.peer)),
  );
}

/** Removes the lock rules of these connections that are in force; returns how many went. */
export async function dropLockRules(
  runner: Runner,
  connections: readonly Connection[],
): Promise<number> {
  return connections.length === 0
    ? 0
    : deleteRules(runner, await lockRulesFor(runner, connections));
}

/** Removes rules given as `-A CHAIN ...` specs; a rule already gone is not an error. */
export async function deleteRules(
  runner: Runner,
  specs: readonly string[],
  family: Family = 'ipv4',
): Promise<number> {
  let deleted = 0;
  for (const spec of specs) {
    const args = ['-w', '-t', 'filter', '-D', ...splitSpec(spec).slice(1)];
    const result = await runner.run({
      file: CLI[family],
      args,
      okCodes: [0, 1],
      timeoutMs: 30_000,
    });
    if (result.exitCode === 0) deleted++;
  }
  return deleted;
}

/** iptables-save prints no quoted words for these rules, so whitespace splitting is exact. */
function splitSpec(spec: string): string[] {
  return spec.trim().split(/\s+/);
}

/** Whether a lock rule spec names this connection (in either direction). */
export function ruleMatchesConnection(
  spec: string,
  local: Connection['local'],
  peer: Connection['peer'],
): boolean {
  const has = (flag: string, value: string | number) =>
    new RegExp(`${flag} ${String(value).replace(/\./g, '\\.')}(?:/\\d+)?\\b`).test(spec);
  const inbound =
    has('-s', peer.ip) &&
    has('-d', local.ip) &&
    has('--sport', peer.port) &&
    has('--dport', local.port);
  const outbound =
    has('-s', local.ip) &&
    has('-d', peer.ip) &&
    has('--sport', local.port) &&
    has('--dport', peer.port);
  return inbound || outbound;
}
