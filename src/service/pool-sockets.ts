// Which Cassandra nodes the service's driver pool is really connected to, read from
// /proc without touching the service: the pod's containers share one network
// namespace, so /proc/self/net/tcp{,6} lists the service's sockets too. With a shared
// process namespace the service's own sockets are told apart by inode; without it,
// every established connection to the native port except the sidecar's own counts.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface SocketEntry {
  remoteAddress: string;
  remotePort: number;
  established: boolean;
  inode: number;
}

/** /proc/net/tcp stores IPv4 addresses as one little-endian 32-bit word in hex. */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/** …and IPv6 as four such words; IPv4-mapped addresses are shown as plain IPv4. */
function ipv6(hex: string): string {
  const bytes = [0, 8, 16, 24].flatMap((w) => [6, 4, 2, 0].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups = Array.from({ length: 8 }, (_, g) => (((bytes[2 * g] ?? 0) << 8) | (bytes[2 * g + 1] ?? 0)).toString(16));
  // The URL parser writes an IPv6 address in its canonical, compressed form.
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6. */
export function parseProcNetTcp(text: string): SocketEntry[] {
  return text.split('\n').slice(1).flatMap((line) => {
    const fields = line.trim().split(/\s+/);
    const [remote, state, inode] = [fields[2], fields[3], fields[9]];
    if (remote === undefined || state === undefined || inode === undefined) return [];
    const [address = '', port = '0'] = remote.split(':');
    return [{
      remoteAddress: address.length === 8 ? ipv4(address) : ipv6(address),
      remotePort: parseInt(port, 16),
      established: state === '01',
      inode: Number(inode),
    }];
  });
}

/** The inodes of every socket a process holds open. */
export function socketInodesOf(pid: number, proc = '/proc'): Set<number> {
  const inodes = new Set<number>();
  for (const fd of readdirSync(`${proc}/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${proc}/${pid}/fd/${fd}`));
      if (match) inodes.add(Number(match[1]));
    } catch {
      // the descriptor closed while we looked
    }
  }
  return inodes;
}

/** The pid of the service: from a pid file, or the first process whose name (comm) matches. */
export function findServiceProcess(options: { processName?: string; pidFile?: string }, proc = '/proc'): number | null {
  if (options.pidFile !== undefined) {
    try {
      const pid = Number(readFileSync(options.pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }
  if (options.processName === undefined) return null;
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`${proc}/${entry}/comm`, 'utf8').trim() === options.processName) return Number(entry);
    } catch {
      // the process exited while we looked
    }
  }
  return null;
}

export interface PoolObservation {
  /** 'process': the service's own sockets; 'namespace': every connection but the sidecar's. */
  source: 'process' | 'namespace';
  pid: number | null;
  /** Established connections to the native port, per node address. */
  connections: Record<string, number>;
}

export function observePool(options: { processName?: string; pidFile?: string; nativePort: number; ownPid?: number; proc?: string }): PoolObservation {
  const proc = options.proc ?? '/proc';
  const sockets = ['tcp', 'tcp6'].flatMap((file) => {
    try {
      return parseProcNetTcp(readFileSync(`${proc}/self/net/${file}`, 'utf8'));
    } catch {
      return []; // no IPv6 in this namespace
    }
  }).filter((s) => s.established && s.remotePort === options.nativePort);

  const pid = findServiceProcess(options, proc);
  let source: PoolObservation['source'] = 'namespace';
  let belongs: (inode: number) => boolean;
  try {
    if (pid === null) throw new Error('service process not found');
    const inodes = socketInodesOf(pid, proc);
    belongs = (inode) => inodes.has(inode);
    source = 'process';
  } catch {
    const own = socketInodesOf(options.ownPid ?? process.pid, proc);
    belongs = (inode) => !own.has(inode);
  }
  const connections: Record<string, number> = {};
  for (const socket of sockets) {
    if (belongs(socket.inode)) connections[socket.remoteAddress] = (connections[socket.remoteAddress] ?? 0) + 1;
  }
  return { source, pid: source === 'process' ? pid : null, connections };
}
