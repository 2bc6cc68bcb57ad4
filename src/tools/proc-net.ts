/** /proc/PID/net/{tcp,tcp6,unix} parsers (the tree's network namespace). */
import type { ProcSource } from './procfs.js';

export interface TcpSocket {
  inode: number;
  local: { ip: string; port: number };
  peer: { ip: string; port: number };
  /** 01 = ESTABLISHED, 0A = LISTEN (include/net/tcp_states.h). */
  state: string;
  family: 'ipv4' | 'ipv6';
}

function ipv4(hex: string): string {
  // Little-endian u32 as the kernel prints it.
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

function ipv6(hex: string): string {
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const word = hex.slice(i, i + 8);
    const bytes = [6, 4, 2, 0].map((j) => word.slice(j, j + 2)).join('');
    words.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  return words
    .map((w) => parseInt(w, 16).toString(16))
    .join(':')
    .replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function parseTcpTable(text: string, family: 'ipv4' | 'ipv6'): TcpSocket[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const [lip = '', lport = '0'] = (f[1] ?? '').split(':');
      const [pip = '', pport = '0'] = (f[2] ?? '').split(':');
      const ip = family === 'ipv4' ? ipv4 : ipv6;
      return {
        inode: Number(f[9]),
        local: { ip: ip(lip), port: parseInt(lport, 16) },
        peer: { ip: ip(pip), port: parseInt(pport, 16) },
        state: f[3] ?? '',
        family,
      };
    });
}

export function readTcp(proc: ProcSource, pid: number): TcpSocket[] {
  return [
    ...parseTcpTable(proc.readText(`/proc/${pid}/net/tcp`) ?? '', 'ipv4'),
    ...parseTcpTable(proc.readText(`/proc/${pid}/net/tcp6`) ?? '', 'ipv6'),
  ];
}

export interface UnixSocket {
  inode: number;
  /** 0001 stream, 0002 dgram, 0005 seqpacket. */
  type: string;
  /** 01 unconnected, 03 connected. */
  state: string;
  path: string | undefined;
}

export function parseUnixTable(text: string): UnixSocket[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((line) => {
      const f = line.trim().split(/\s+/);
      return { inode: Number(f[6]), type: f[4] ?? '', state: f[5] ?? '', path: f[7] };
    });
}

export function readUnix(proc: ProcSource, pid: number): UnixSocket[] {
  return parseUnixTable(proc.readText(`/proc/${pid}/net/unix`) ?? '');
}

/** Peer inodes from `ss -xn` (sock_diag knows them; /proc does not): local inode -> peer inode. */
export function parseSsUnixPeers(text: string): Map<number, number> {
  const peers = new Map<number, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!f[0]?.startsWith('u_') || f.length < 8) continue;
    const local = Number(f[5]);
    const peer = Number(f[7]);
    if (Number.isFinite(local) && Number.isFinite(peer)) peers.set(local, peer);
  }
  return peers;
}
