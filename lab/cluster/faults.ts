// Network faults on the local cluster, made the way reality makes them: iptables
// rules on the loopback interface, scoped to the cluster's own addresses and ports,
// all in one chain of their own so that healing is one flush and nothing else on the
// machine is touched.
//
// isolateNode(n) drops the internode traffic *to* node n (storage port 7000). On
// loopback every node's outbound internode socket has the source address 127.0.0.1,
// so only the destination tells whose traffic a packet is. Node n can still send to
// its peers, but hears nothing back: its failure detector convicts them, and as a
// coordinator it answers "Cannot achieve consistency level LOCAL_QUORUM (2 required
// but only 1 alive)" while it still serves CQL. That is Wikimedia's T327954, the cause
// of the 2023-01-24 outage.
//   - Left alone, the peers stop hearing n's heartbeat too and convict it after about
//     20 s: the symmetric view.
//   - With `peersKeepItUp`, the peers' PhiConvictThreshold is raised over JMX first,
//     so they never convict n and keep it UP while it sees them DOWN: T327954's exact
//     view.
// isolateNode(n, { gossipOnly }) is T327954 as it happened, not harsher: it drops only the *urgent*
// internode connections its peers open to node n. Cassandra 4+ opens separate
// internode connections per message class, and gossip travels on the urgent one; the
// initiator's first payload is the messaging handshake, the protocol magic
// (0xCA552DFA) then a flags word whose two low bits name the connection type (1:
// urgent). iptables' u32 match reads both from the TCP payload, so the handshake of a
// peer's urgent connection to n never arrives and that connection never opens, while
// the peers' small and large message connections (replica reads and writes) open and
// flow as usual. Node n still gossips *to* its peers on its own outbound connections,
// but their answers never reach it: it counts its peers DOWN while they count it UP.
// Only new connections are matched, so it takes hold when node n (re)starts, as in the
// incident, a reboot.
// blockGroupFrom(gid, n) rejects CQL connections from the processes of one group (the
// lab service runs with a group of its own) to node n, while the sidecar still reaches
// it: a service that cannot reach a node the sidecar can (a firewall rule, a broken
// route), which no restart of the service cures.
//
// And one fault of a node's disk as Cassandra's disk usage guardrail sees it:
// overfillDisk(n) makes node n count its disk as one byte (the guardrail's
// `data_disk_usage_max_disk_size`, changed at runtime over JMX as an operator would).
// Cassandra counts as used its data directories' live tables and every memtable, which
// a running node never has empty (the sidecar's canaries alone write every two seconds),
// so it is over any threshold at once. Within a minute the node gossips FULL, and every
// coordinator refuses ordinary roles' writes to the replicas it holds: what a disk past
// the failure threshold does, without filling this machine's disk.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mbeanAttribute } from './jmx.ts';
import { localNode, members, paths, type NodeNumber } from './layout.ts';

const chain = 'SESSIONSTORE-LAB';
const storagePort = '7000';
const nativePort = '9042';
const defaultPhi = 8;
const phiThatNeverConvicts = 1e6;

const iptables = (args: string[]): { ok: boolean; stderr: string } => {
  const result = spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' });
  if (result.error) throw new Error(`iptables is needed for network faults (apt-get install -y iptables): ${result.error.message}`);
  return { ok: result.status === 0, stderr: result.stderr.trim() };
};

function ensureChain(): void {
  iptables(['-N', chain]); // fails harmlessly when it exists
  if (!iptables(['-C', 'OUTPUT', '-o', 'lo', '-j', chain]).ok) {
    const inserted = iptables(['-I', 'OUTPUT', '-o', 'lo', '-j', chain]);
    if (!inserted.ok) throw new Error(`iptables: cannot hook ${chain} into OUTPUT: ${inserted.stderr}`);
  }
}

function addRule(rule: string[]): void {
  ensureChain();
  if (iptables(['-C', chain, ...rule]).ok) return;
  const added = iptables(['-A', chain, ...rule]);
  if (!added.ok) throw new Error(`iptables: ${added.stderr}`);
}

const isolationRule = (n: NodeNumber): string[] =>
  ['-p', 'tcp', '-d', localNode(n).address, '--dport', storagePort, '-j', 'DROP', '-m', 'comment', '--comment', `sessionstore-lab isolate node ${n}`];

/** The TCP payload's first word is the messaging magic, and its second word's two low bits say "urgent". */
const urgentHandshake = '0>>22&0x3C@12>>26&0x3C@0=0xCA552DFA && 0>>22&0x3C@12>>26&0x3C@4&0x3=0x1';

const deafRule = (n: NodeNumber): string[] =>
  ['-p', 'tcp', '-d', localNode(n).address, '--dport', storagePort, '-m', 'u32', '--u32', urgentHandshake, '-j', 'DROP',
    '-m', 'comment', '--comment', `sessionstore-lab node ${n} deaf to its peers' gossip`];

const groupRule = (gid: number, n: NodeNumber): string[] =>
  ['-p', 'tcp', '-d', localNode(n).address, '--dport', nativePort, '-m', 'owner', '--gid-owner', String(gid), '-j', 'REJECT', '--reject-with', 'tcp-reset',
    '-m', 'comment', '--comment', `sessionstore-lab gid ${gid} cannot reach node ${n}`];

/** Which nodes' thresholds the lab raised, so that healing resets exactly those (a JVM per call is slow). */
const raisedFile = join(paths.cluster, 'phi-raised.json');
const raised = (): NodeNumber[] => (existsSync(raisedFile) ? JSON.parse(readFileSync(raisedFile, 'utf8')) as NodeNumber[] : []);

/**
 * Sets nodes' failure detector threshold over their local JMX ports. Raised ones are
 * recorded first: a launch that fails half way (a node not answering JMX) may have
 * raised some, and healing must still find them.
 */
async function setPhiConvictThreshold(nodes: NodeNumber[], phi: number): Promise<void> {
  const others = raised().filter((r) => !nodes.includes(r));
  if (phi !== defaultPhi) writeFileSync(raisedFile, JSON.stringify([...others, ...nodes]));
  await mbeanAttribute(nodes, 'org.apache.cassandra.net:type=FailureDetector', 'PhiConvictThreshold', String(phi));
  if (phi === defaultPhi) writeFileSync(raisedFile, JSON.stringify(others));
}

export interface IsolationOptions {
  /** Its peers first stop convicting anyone, so that they keep n UP (T327954's view). */
  peersKeepItUp?: boolean;
  /** Drop only the peers' gossip connections to n (the faithful variant), not every internode packet (the harsh one). */
  gossipOnly?: boolean;
}

/** Cuts node n off from its peers' internode traffic: all of it, or with `gossipOnly` their gossip alone (see the header). */
export async function isolateNode(n: NodeNumber, options: IsolationOptions = {}): Promise<void> {
  if (options.peersKeepItUp) {
    await setPhiConvictThreshold(members().filter((peer) => peer.number !== n).map((peer) => peer.number), phiThatNeverConvicts);
  }
  addRule(options.gossipOnly ? deafRule(n) : isolationRule(n));
}

export function blockGroupFrom(gid: number, n: NodeNumber): void {
  addRule(groupRule(gid, n));
}

const guardrails = 'org.apache.cassandra.db:type=Guardrails';
/** The disk sizes the guardrail counted from before overfillDisk, per node, so that healing puts exactly those back. */
const overfilledFile = join(paths.cluster, 'guardrail-overfilled.json');
const overfilled = (): Record<string, string> => (existsSync(overfilledFile) ? JSON.parse(readFileSync(overfilledFile, 'utf8')) as Record<string, string> : {});

/** Node n's disk counts as full for the disk usage guardrail (see the header). */
export async function overfillDisk(n: NodeNumber): Promise<void> {
  const before = overfilled();
  const original = before[String(n)] ?? (await mbeanAttribute([n], guardrails, 'DataDiskUsageMaxDiskSize'))[0];
  writeFileSync(overfilledFile, JSON.stringify({ ...before, [n]: original }));
  await mbeanAttribute([n], guardrails, 'DataDiskUsageMaxDiskSize', '1B');
}

/** Puts back the disk size the guardrail counted from on the nodes overfillDisk changed; a restarted node reads its cassandra.yaml anyway. */
async function restoreDisks(running: (n: NodeNumber) => boolean): Promise<void> {
  for (const [n, size] of Object.entries(overfilled())) {
    if (running(Number(n) as NodeNumber)) await mbeanAttribute([Number(n) as NodeNumber], guardrails, 'DataDiskUsageMaxDiskSize', size);
  }
  rmSync(overfilledFile, { force: true });
}

/** The lab's rules in place now, one line each (`iptables -S` form); none when the chain does not exist. */
export function activeRules(): string[] {
  const result = spawnSync('iptables', ['-w', '-S', chain], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n').filter((line) => line.startsWith(`-A ${chain}`)) : [];
}

/** Puts the failure detectors the lab raised back to Cassandra's default; `running` says which nodes answer JMX. */
export async function resetFailureDetectors(running: (n: NodeNumber) => boolean): Promise<void> {
  await setPhiConvictThreshold(raised().filter(running), defaultPhi);
  rmSync(raisedFile, { force: true });
}

/**
 * Removes every lab rule and the chain itself, and puts the failure detectors the lab
 * raised and the disk sizes it shrank back. Safe to call when nothing was changed.
 * `running` says which nodes answer JMX (a restarted node starts at the default anyway).
 */
export async function healAll(running: (n: NodeNumber) => boolean): Promise<void> {
  if (iptables(['-S', chain]).ok) {
    while (iptables(['-D', 'OUTPUT', '-o', 'lo', '-j', chain]).ok) { /* remove every hook */ }
    iptables(['-F', chain]);
    iptables(['-X', chain]);
  }
  await resetFailureDetectors(running);
  await restoreDisks(running);
}
