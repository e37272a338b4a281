// Which Cassandra nodes the service's driver pool is really connected to, read from
// /proc without touching the service: the pod's containers share one network
// namespace, so /proc/self/net/tcp{,6} lists the service's sockets too. With a shared
// process namespace, and the kernel's leave to read its descriptors (the same UID and
// GID), the service's own sockets are told apart by inode; otherwise every established
// connection to the native port except the sidecar's own counts.
// All reads are asynchronous: the kernel takes milliseconds to write /proc/net/tcp
// on a busy host, and the proxy shares this event loop.
import { readFile, readdir, readlink } from 'node:fs/promises';

export interface SocketEntry {
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The kernel's TCP state, as in /proc/net/tcp: '01' established, '0A' listening, '06' time-wait… */
  state: string;
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
    const [local, remote, state, inode] = [fields[1], fields[2], fields[3], fields[9]];
    if (local === undefined || remote === undefined || state === undefined || inode === undefined) return [];
    const [address = '', port = '0'] = remote.split(':');
    return [{
      localPort: parseInt(local.split(':')[1] ?? '0', 16),
      remoteAddress: address.length === 8 ? ipv4(address) : ipv6(address),
      remotePort: parseInt(port, 16),
      state,
      established: state === '01',
      inode: Number(inode),
    }];
  });
}

/**
 * The inodes of every socket a process holds open. Throws when the kernel refuses to
 * show them: a process of the same UID but another GID may list /proc/<pid>/fd and
 * still not read one link (the ptrace rule), which must not read as "no sockets".
 */
export async function socketInodesOf(pid: number, proc = '/proc'): Promise<Set<number>> {
  const targets = await Promise.all((await readdir(`${proc}/${pid}/fd`)).map((fd) =>
    readlink(`${proc}/${pid}/fd/${fd}`).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'ENOENT') return ''; // the descriptor closed while we looked
      throw error;
    })));
  const inodes = new Set<number>();
  for (const target of targets) {
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(Number(match[1]));
  }
  return inodes;
}

const commOf = async (proc: string, pid: number | string): Promise<string | null> =>
  (await readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => null))?.trim() ?? null; // null: it exited while we looked

/**
 * The pid of the service: from a pid file, or the first process whose name (comm)
 * matches. `knownPid`, the last one found, is checked first: scanning every process
 * costs far more than the rest of an observation.
 */
export async function findServiceProcess(options: { processName?: string; pidFile?: string; knownPid?: number | null }, proc = '/proc'): Promise<number | null> {
  if (options.pidFile !== undefined) {
    try {
      const pid = Number((await readFile(options.pidFile, 'utf8')).trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }
  const { processName, knownPid } = options;
  if (processName === undefined) return null;
  if (knownPid != null && (await commOf(proc, knownPid)) === processName) return knownPid;
  for (const entry of await readdir(proc)) {
    if (/^\d+$/.test(entry) && (await commOf(proc, entry)) === processName) return Number(entry);
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

export async function observePool(options: { processName?: string; pidFile?: string; knownPid?: number | null; nativePort: number; ownPid?: number; proc?: string }): Promise<PoolObservation> {
  const proc = options.proc ?? '/proc';
  const tables = await Promise.all(['tcp', 'tcp6'].map((file) => readFile(`${proc}/self/net/${file}`, 'utf8').catch(() => ''))); // '': no IPv6 here
  const sockets = tables.flatMap((text) => parseProcNetTcp(text)).filter((s) => s.established && s.remotePort === options.nativePort);

  const pid = await findServiceProcess(options, proc);
  let source: PoolObservation['source'] = 'namespace';
  let belongs: (inode: number) => boolean;
  try {
    if (pid === null) throw new Error('service process not found');
    const inodes = await socketInodesOf(pid, proc);
    belongs = (inode) => inodes.has(inode);
    source = 'process';
  } catch {
    const own = await socketInodesOf(options.ownPid ?? process.pid, proc);
    belongs = (inode) => !own.has(inode);
  }
  const connections: Record<string, number> = {};
  for (const socket of sockets) {
    if (belongs(socket.inode)) connections[socket.remoteAddress] = (connections[socket.remoteAddress] ?? 0) + 1;
  }
  return { source, pid: source === 'process' ? pid : null, connections };
}
