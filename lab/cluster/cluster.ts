// The local three-node Apache Cassandra cluster: start, stop, kill, pause and resume
// nodes, each a JVM of its own; in the two-DC shape, a second data center of three
// joined to it. The CLI (cli.ts) and the tests share this API.
import cassandra from 'cassandra-driver';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describeCassandraError } from '../../src/cluster/cassandra-errors.ts';
import { connectToCoordinator, consistencies } from '../../src/cluster/coordinator-client.ts';
import { activeRules, healAll, isolateNode, resetFailureDetectors, type IsolationOptions } from './faults.ts';
import { checkJava, ensureCassandra } from './install.ts';
import { certificateAuthorityIn, createCertificateAuthority } from '../certs.ts';
import {
  allNodes, dataCenter, hasSecondDataCenter, layoutVersion, localNode, members, paths, secondDataCenter, secondDataCenterNodes, spareNode, type LocalNode, type NodePlace, type NodeNumber,
} from './layout.ts';
import { java17Options, javaArguments, settleClassArchive, writeNodeFiles, type StartAs } from './node-files.ts';
import { leaveSmallDisk, moveToSmallDisk, smallDisk, type SmallDiskOptions, type SmallDiskSettings } from './small-disk.ts';
import { sidecarTables } from './sidecar-schema.ts';

export type ProcessState = 'running' | 'paused' | 'stopped';

export interface NodeStatus {
  number: NodeNumber;
  dataCenter: string;
  address: string;
  pid: number | null;
  process: ProcessState;
  answersCql: boolean;
}

type Log = (line: string) => void;
const quiet: Log = () => {};

export const sessionsKeyspace = 'sessions';
const startTimeoutMs = 180_000;

const pidFile = (node: NodePlace): string => join(node.dir, 'pid');

/** The data centers of the cluster's shape, each with its members. */
const dataCentersOf = (nodes: LocalNode[]): Map<string, LocalNode[]> =>
  nodes.reduce((byName, node) => byName.set(node.dataCenter, [...(byName.get(node.dataCenter) ?? []), node]), new Map<string, LocalNode[]>());

/** A keyspace with replicas only in `name`, which liveness reads use: a read there at a consistency of N counts only that data center's nodes. */
const livenessKeyspace = (name: string): string => `lab_liveness_${name}`;

/** The node's JVM pid, or null when it does not run (a stale pid file or a reused pid do not count). */
export function nodePid(node: NodePlace): number | null {
  if (!existsSync(pidFile(node))) return null;
  const pid = Number(readFileSync(pidFile(node), 'utf8'));
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    // A killed JVM's main thread is a zombie before its other threads have exited; until
    // they have, its files, mounts and ports are still held.
    const exited = state === 'Z' && readdirSync(`/proc/${pid}/task`).length === 1;
    return cmdline.includes(`-Dcassandra.storagedir=${node.dir}\0`) && !exited ? pid : null;
  } catch {
    return null;
  }
}

function processState(node: NodePlace): ProcessState {
  const pid = nodePid(node);
  if (pid === null) return 'stopped';
  const state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  return state === 'T' ? 'paused' : 'running';
}

function logTail(node: NodePlace, lines = 15): string {
  const file = join(node.dir, 'logs', 'system.log');
  if (!existsSync(file)) return '(no log yet)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface Credentials {
  username: string;
  password: string;
}

/** The cluster's superuser: the project's own once created, Cassandra's default before that. */
export function adminCredentials(): Credentials {
  return existsSync(paths.credentials)
    ? (JSON.parse(readFileSync(paths.credentials, 'utf8')) as Credentials)
    : { username: 'cassandra', password: 'cassandra' };
}

/** The name in node 3's certificate, which does not name its address. */
export const hostnameOnlyNode = 'node3.sessionstore.test';

/** The throwaway CA that signed the nodes' certificates, and a client certificate it signed. */
export const clusterTls = {
  caFile: join(paths.tls, 'ca.crt'),
  clientCertFile: join(paths.tls, 'client.crt'),
  clientKeyFile: join(paths.tls, 'client.key'),
};

/**
 * A node's PEM keystore holds its key and certificate, as Cassandra's PEM context
 * factory reads it. Nodes 1 and 2 have certificates that name their address; node 3's
 * names a host only, as production's do (verify_hostname: false is needed for it).
 */
function ensureTlsMaterial(log: Log): void {
  if (existsSync(join(paths.tls, 'node3.pem')) && existsSync(clusterTls.clientCertFile)) return;
  rmSync(paths.tls, { recursive: true, force: true });
  mkdirSync(paths.tls, { recursive: true });
  const ca = createCertificateAuthority(paths.tls, 3650);
  for (const node of allNodes()) {
    const names = node.number === 3 ? { dnsNames: [hostnameOnlyNode] } : { ipAddresses: [node.address] };
    const issued = ca.issue(`node${node.number}`, { ...names, days: 3650 });
    writeFileSync(join(paths.tls, `node${node.number}.pem`), issued.key + issued.cert);
  }
  ca.issue('client', { days: 3650 });
  log(`made a throwaway CA and node certificates in ${paths.tls}`);
}

/** A node's certificate (naming its address) from the lab's CA, for a machine made after the cluster: the spare, dc2's nodes. */
function ensureNodeCertificate(node: NodePlace): void {
  const keystore = join(paths.tls, `node${node.number}.pem`);
  if (existsSync(keystore)) return;
  const issued = certificateAuthorityIn(paths.tls).issue(`node${node.number}`, { ipAddresses: [node.address], days: 3650 });
  writeFileSync(keystore, issued.key + issued.cert);
}

/** A cluster whose data folders were made for another configuration starts again from nothing. */
function ensureLayout(log: Log): void {
  const current = existsSync(paths.layoutVersion) ? readFileSync(paths.layoutVersion, 'utf8') : null;
  if (current !== layoutVersion) {
    if (allNodes().some((node) => existsSync(join(node.dir, 'data')))) {
      log(`the cluster's data was made for another configuration (${current ?? 'unknown'}); deleting it`);
    }
    rmSync(paths.cluster, { recursive: true, force: true });
    mkdirSync(paths.cluster, { recursive: true });
    writeFileSync(paths.layoutVersion, layoutVersion);
  }
  ensureTlsMaterial(log);
}

const nodetoolArguments = (node: LocalNode, lib: string, args: string[]): string[] => {
  const classpath = readdirSync(lib).filter((f) => f.endsWith('.jar')).map((f) => join(lib, f)).join(':');
  return [...java17Options, '-cp', classpath, 'org.apache.cassandra.tools.NodeTool', '-h', '127.0.0.1', '-p', String(node.jmxPort), ...args];
};

/** Runs Cassandra's nodetool against one node, over its local JMX port. */
function nodetool(node: LocalNode, lib: string, args: string[]): void {
  execFileSync('java', nodetoolArguments(node, lib, args), { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** nodetool without blocking this process: several nodes' at once. */
async function nodetoolAsync(node: LocalNode, lib: string, args: string[]): Promise<void> {
  await promisify(execFile)('java', nodetoolArguments(node, lib, args));
}

/**
 * On a new cluster: create the project's superuser, replicate system_auth to every
 * node and repair it (Cassandra's documented procedure), so that logins survive
 * nodes going down. The default role is used only for this.
 */
async function ensureAdminRole(log: Log, lib: string): Promise<void> {
  if (existsSync(paths.credentials)) return;
  const admin = { username: 'cluster_admin', password: randomBytes(18).toString('base64url') };
  const node1 = localNode(1);
  // With system_auth still at one replica, the default role reads fine. When an
  // interrupted earlier run already created the role, set its password instead.
  const role = `${admin.username} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '${admin.password}'`;
  try {
    await queryNode(node1, `CREATE ROLE ${role}`, [], consistencies.localOne, 10_000, adminCredentials());
  } catch (error) {
    if ((error as { code?: number }).code !== cassandra.types.responseErrorCodes.alreadyExists) throw error;
    await queryNode(node1, `ALTER ROLE ${role}`, [], consistencies.localOne, 10_000, adminCredentials());
  }
  await queryNode(node1, `ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', '${dataCenter}': 3}`,
    [], consistencies.localOne, 10_000, admin);
  nodetool(node1, lib, ['repair', '--full', 'system_auth']);
  for (const node of allNodes()) {
    await waitFor(`${admin.username} can log in`, node, async () => {
      try {
        await queryNode(node, 'SELECT release_version FROM system.local', [], consistencies.localOne, 3000, admin);
        return true;
      } catch {
        return false;
      }
    }, 30_000);
  }
  writeFileSync(paths.credentials, JSON.stringify(admin), { mode: 0o600 });
  log(`created the superuser ${admin.username} and replicated system_auth to every node (password in ${paths.credentials})`);
}

export const authProvider = (credentials: Credentials = adminCredentials()): cassandra.auth.AuthProvider =>
  new cassandra.auth.PlainTextAuthProvider(credentials.username, credentials.password);

/** Runs one query coordinated by the node itself; rejects when the node does not answer. */
export async function queryNode(
  node: NodePlace,
  query: string,
  params: unknown[] = [],
  consistency: number = consistencies.localOne,
  timeoutMs = 3000,
  credentials: Credentials = adminCredentials(),
): Promise<cassandra.types.ResultSet> {
  const client = connectToCoordinator({
    address: node.address, localDataCenter: node.dataCenter, connectTimeoutMs: timeoutMs, readTimeoutMs: timeoutMs, authProvider: authProvider(credentials),
  });
  try {
    return await client.execute(query, params, { prepare: params.length > 0, consistency });
  } finally {
    await client.shutdown();
  }
}
/** Why each node last failed to answer CQL, for the error of a start that timed out. */
const cqlFailures = new Map<string, string>();

export async function answersCql(node: NodePlace): Promise<boolean> {
  try {
    await queryNode(node, 'SELECT release_version FROM system.local', [], consistencies.localOne, 2000);
    cqlFailures.delete(node.address);
    return true;
  } catch (error) {
    cqlFailures.set(node.address, (error as Error).message);
    return false;
  }
}

export async function status(): Promise<NodeStatus[]> {
  return Promise.all(
    members().map(async (node) => ({
      number: node.number,
      dataCenter: node.dataCenter,
      address: node.address,
      pid: nodePid(node),
      process: processState(node),
      answersCql: processState(node) === 'running' && (await answersCql(node)),
    })),
  );
}

async function waitFor(what: string, node: NodePlace, check: () => Promise<boolean>, timeoutMs = startTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (nodePid(node) === null) throw new Error(`node ${node.number} (${node.address}) exited while waiting until ${what}. Its log:\n${logTail(node)}`);
    if (await check()) return;
    if (Date.now() > deadline) {
      const lastCqlFailure = cqlFailures.get(node.address);
      throw new Error(`node ${node.number} (${node.address}): timed out after ${timeoutMs} ms waiting until ${what}${lastCqlFailure ? ` (its last CQL answer: ${lastCqlFailure})` : ''}. Its log:\n${logTail(node)}`);
    }
    await sleep(250);
  }
}

function spawnNode(node: NodePlace, lib: string, startAs: StartAs = {}): void {
  writeNodeFiles(node, startAs);
  settleClassArchive(node, lib);
  const out = openSync(join(node.dir, 'logs', 'stdout.log'), 'a');
  const child = spawn('java', javaArguments(node, lib, startAs), { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`node ${node.number}: java did not start`);
  writeFileSync(pidFile(node), String(child.pid));
  child.unref();
}

async function listsOtherNodesAsPeers(node: LocalNode): Promise<boolean> {
  try {
    const peers = await queryNode(node, 'SELECT peer FROM system.peers_v2');
    const listed = new Set(peers.rows.map((row) => String(row.get('peer'))));
    return members().every((other) => other.number === node.number || listed.has(other.address));
  } catch {
    return false;
  }
}

/**
 * True when `observer`, as coordinator, sees every running node up: in each data
 * center, a read at a consistency equal to its number of running nodes (its liveness
 * keyspace has 3 replicas there, so every node is one) succeeds only if the
 * coordinator counts them all as alive.
 */
async function seesRunningNodesUp(observer: LocalNode): Promise<boolean> {
  try {
    for (const [name, nodes] of dataCentersOf(members())) {
      const running = nodes.filter((n) => processState(n) === 'running').length;
      if (running === 0) continue;
      const consistency = [consistencies.one, consistencies.two, consistencies.three][running - 1] ?? consistencies.all;
      await queryNode(observer, `SELECT k FROM ${livenessKeyspace(name)}.nodes WHERE k = 0`, [], consistency);
    }
    return true;
  } catch {
    return false;
  }
}

const createLivenessKeyspace = async (node: LocalNode, name: string): Promise<void> => {
  await queryNode(node, `CREATE KEYSPACE IF NOT EXISTS ${livenessKeyspace(name)} WITH replication = {'class': 'NetworkTopologyStrategy', '${name}': 3}`, [], consistencies.localOne, 20_000);
  await queryNode(node, `CREATE TABLE IF NOT EXISTS ${livenessKeyspace(name)}.nodes (k int PRIMARY KEY)`, [], consistencies.localOne, 20_000);
};

async function createSchema(log: Log): Promise<void> {
  const node = localNode(1);
  await queryNode(node, `CREATE KEYSPACE IF NOT EXISTS ${sessionsKeyspace} WITH replication = {'class': 'NetworkTopologyStrategy', '${dataCenter}': 3}`, [], consistencies.localOne, 20_000);
  await queryNode(node, `CREATE TABLE IF NOT EXISTS ${sessionsKeyspace}.values (key text PRIMARY KEY, value blob)`, [], consistencies.localOne, 20_000);
  // The sidecar's own tables, exactly as production creates them (k8s/cassandra/sidecar-role.cql).
  for (const statement of sidecarTables()) await queryNode(node, statement, [], consistencies.localOne, 20_000);
  await createLivenessKeyspace(node, dataCenter);
  log(`schema ready: keyspace ${sessionsKeyspace} (NetworkTopologyStrategy ${dataCenter}: 3), tables ${sessionsKeyspace}.values, sidecar_leases and sidecar_canary`);
}

const schemaVersion = async (node: NodePlace): Promise<string> =>
  String((await queryNode(node, 'SELECT schema_version FROM system.local')).first().get('schema_version'));

/**
 * Every node on node 1's schema. A schema change is pushed to the peers, and a peer that
 * missed it pulls it once gossip shows another version; but once, with three JVMs
 * starting at once on two cores, a node missed the push and never pulled it ("Couldn't
 * find table", for minutes). A node started again pulls the schema as it joins.
 */
async function settleSchema(log: Log): Promise<void> {
  const behind = async (): Promise<LocalNode[]> => {
    const expected = await schemaVersion(localNode(1));
    const nodes = members().filter((node) => processState(node) === 'running');
    const versions = await Promise.all(nodes.map((node) => schemaVersion(node).catch(() => '')));
    return nodes.filter((_, i) => versions[i] !== expected);
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await behind()).length === 0) return;
    await sleep(1000);
  }
  for (const node of await behind()) {
    log(`node ${node.number} has not taken the new schema in 30 s (a lost schema push); starting it again`);
    await stopNode(node.number, log);
    await startNode(node.number, log);
  }
}

export interface StartTiming {
  /** From spawning the JVM until the node answers CQL. */
  cqlMs: number;
  /** From spawning the JVM until every other running node sees it up. */
  seenUpMs: number;
}

/**
 * Starts every member that is not running; returns when all answer CQL, know each
 * other, and the schema exists. `dataCenters` changes the shape: 2 has dc2 join, 1
 * has it leave; without it the shape stays as it is.
 */
export async function up(log: Log = quiet, options: { dataCenters?: 1 | 2 } = {}): Promise<void> {
  checkJava();
  const lib = ensureCassandra(log);
  if (members().every((node) => processState(node) === 'stopped')) ensureLayout(log);
  const begin = Date.now();
  const leaving = options.dataCenters === 1 && hasSecondDataCenter();
  // A small disk left by a run that was killed, its node stopped since (or the machine rebooted, and the mount is gone): the node starts on its own data.
  const onSmallDisk = smallDisk();
  if (onSmallDisk !== null && processState(localNode(onSmallDisk.node)) === 'stopped') leaveSmallDisk();
  // A replacement cut short (the matrix's replaced-node row): the member's place is the spare's until it is put back.
  const replaced = replacedMember();
  // dc2's nodes are left stopped when dc2 leaves: its data center is dropped from the keyspaces without them.
  const starting = (leaving ? allNodes() : members()).filter((n) => n.number !== replaced);
  for (const node of starting) {
    const state = processState(node);
    if (state === 'paused') resumeNode(node.number);
    if (state === 'stopped') {
      if (await answersCql(node)) {
        throw new Error(`${node.address}:9042 already answers CQL, but not from this checkout's cluster (${node.dir}). ` +
          'Stop the other cluster first (npm run cluster -- down, in the checkout that started it).');
      }
      log(`starting node ${node.number} on ${node.address} (rack ${node.rack})`);
      spawnNode(node, lib);
    }
  }
  for (const node of starting) await waitFor('it answers CQL', node, () => answersCql(node));
  await putBack(log);
  if (leaving) await secondDataCenterLeaves(log, lib);
  for (const node of members()) await waitFor('it lists the other nodes as peers', node, () => listsOtherNodesAsPeers(node));
  await ensureAdminRole(log, lib);
  await createSchema(log);
  if (options.dataCenters === 2 && !hasSecondDataCenter()) await secondDataCenterJoins(log, lib);
  await settleSchema(log);
  for (const node of members()) await waitFor('it sees every node up', node, () => seesRunningNodesUp(node));
  const shape = [...dataCentersOf(members())].map(([name, nodes]) => `${nodes.length} nodes of ${name}`).join(' and ');
  log(`cluster up: ${shape} answer CQL and see each other (${((Date.now() - begin) / 1000).toFixed(1)} s)`);
}

const replicatedTo = (names: string[]): string =>
  `{'class': 'NetworkTopologyStrategy', ${names.map((name) => `'${name}': 3`).join(', ')}}`;

/**
 * dc2 joins, by Cassandra's procedure for a new data center: its nodes start without
 * bootstrap (nothing streams), the keyspaces gain 3 replicas there, and each node
 * rebuilds system_auth from dc1, so that logins work through it. The sessions written
 * before it joined are not rebuilt: the two-DC replays write their own.
 */
async function secondDataCenterJoins(log: Log, lib: string): Promise<void> {
  const begin = Date.now();
  const node1 = localNode(1);
  const nodes = secondDataCenterNodes();
  for (const node of nodes) {
    rmSync(node.dir, { recursive: true, force: true });
    ensureNodeCertificate(node);
    log(`starting node ${node.number} on ${node.address} (${node.dataCenter}, rack ${node.rack})`);
    spawnNode(node, lib);
  }
  // Until system_auth has replicas in dc2, nobody can log in through its nodes: dc1's node 1 says when they have joined.
  for (const node of nodes) {
    await waitFor(`node 1 lists it in ${node.dataCenter}`, node, async () => {
      const rows = await queryNode(node1, 'SELECT data_center FROM system.peers_v2 WHERE peer = ?', [node.address]).then((r) => r.rows, () => []);
      return rows.some((row) => row.get('data_center') === node.dataCenter);
    });
  }
  const names = [dataCenter, secondDataCenter];
  for (const keyspace of ['system_auth', sessionsKeyspace]) {
    await queryNode(node1, `ALTER KEYSPACE ${keyspace} WITH replication = ${replicatedTo(names)}`, [], consistencies.localOne, 20_000);
  }
  await createLivenessKeyspace(node1, secondDataCenter);
  await Promise.all(nodes.map((node) => nodetoolAsync(node, lib, ['rebuild', '--keyspace', 'system_auth', '--', dataCenter])));
  for (const node of nodes) await waitFor('it answers CQL', node, () => answersCql(node));
  log(`${secondDataCenter} joined: ${nodes.length} nodes, system_auth and ${sessionsKeyspace} replicated 3 and 3 (${((Date.now() - begin) / 1000).toFixed(1)} s)`);
}

/** dc2 leaves: its nodes stop and are removed from the ring, the keyspaces drop their replicas there, and the nodes' folders go. */
async function secondDataCenterLeaves(log: Log, lib: string): Promise<void> {
  const begin = Date.now();
  const node1 = localNode(1);
  const nodes = secondDataCenterNodes();
  await Promise.all(nodes.map((node) => stopPlace(node, log)));
  // Cassandra refuses to drop a data center that still has members from a keyspace's
  // replication, so they leave the ring first; with every replica there gone, nothing streams.
  const hostIds = new Map((await queryNode(node1, 'SELECT peer, host_id FROM system.peers_v2')).rows.map((row) => [String(row.get('peer')), String(row.get('host_id'))]));
  for (const node of nodes) {
    const hostId = hostIds.get(node.address);
    if (hostId !== undefined) await nodetoolAsync(node1, lib, ['removenode', hostId]);
    rmSync(node.dir, { recursive: true, force: true });
  }
  for (const keyspace of ['system_auth', sessionsKeyspace]) {
    await queryNode(node1, `ALTER KEYSPACE ${keyspace} WITH replication = ${replicatedTo([dataCenter])}`, [], consistencies.localOne, 20_000);
  }
  await queryNode(node1, `DROP KEYSPACE IF EXISTS ${livenessKeyspace(secondDataCenter)}`, [], consistencies.localOne, 20_000);
  log(`${secondDataCenter} left: its nodes stopped and removed, the keyspaces in ${dataCenter} only (${((Date.now() - begin) / 1000).toFixed(1)} s)`);
}

/**
 * A freshly started cluster is cold: three JVMs compiling their hot paths at once on a
 * small machine make the first minutes' queries slow, and timing tests fail for
 * reasons that are not theirs. Session-like traffic (LOCAL_QUORUM writes and reads
 * through every node) until a round of 200 takes under a second three rounds in a
 * row, or `limitMs` has passed; returns what it took.
 */
export async function warmUp(log: Log = quiet, limitMs = 60_000): Promise<{ ms: number; queries: number }> {
  const client = new cassandra.Client({
    contactPoints: allNodes().map((n) => n.address), localDataCenter: dataCenter, authProvider: authProvider(),
    profiles: [new cassandra.ExecutionProfile('default', { consistency: consistencies.localQuorum })],
  });
  const begin = Date.now();
  let [queries, fastRounds] = [0, 0];
  try {
    while (fastRounds < 3 && Date.now() - begin < limitMs) {
      const round = Date.now();
      const rows = Array.from({ length: 100 }, (_, i) => [`warm-up:${i}`, randomBytes(512)]);
      await cassandra.concurrent.executeConcurrent(client, `INSERT INTO ${sessionsKeyspace}.values (key, value) VALUES (?, ?) USING TTL 60`, rows, { concurrencyLevel: 8 });
      await cassandra.concurrent.executeConcurrent(client, `SELECT value FROM ${sessionsKeyspace}.values WHERE key = ?`, rows.map(([key]) => [key]), { concurrencyLevel: 8 });
      queries += 200;
      fastRounds = Date.now() - round < 1000 ? fastRounds + 1 : 0;
    }
  } finally {
    await client.shutdown();
  }
  const ms = Date.now() - begin;
  log(`cluster warmed up: ${queries} LOCAL_QUORUM queries in ${(ms / 1000).toFixed(1)} s${fastRounds < 3 ? ' (still slow at the limit)' : ''}`);
  return { ms, queries };
}

/** Starts a stopped node; returns once it answers CQL and (unless `waitForPeers` is false) every other running node sees it up. */
export async function startNode(number: NodeNumber, log: Log = quiet, options: { waitForPeers?: boolean } = {}): Promise<StartTiming> {
  const node = localNode(number);
  if (processState(node) !== 'stopped') throw new Error(`node ${number} is already ${processState(node)}`);
  const begin = Date.now();
  spawnNode(node, ensureCassandra(log));
  await waitFor('it answers CQL', node, () => answersCql(node));
  const cqlMs = Date.now() - begin;
  for (const other of members()) {
    if (options.waitForPeers !== false && other.number !== number && processState(other) === 'running') {
      await waitFor(`node ${other.number} sees it up`, node, () => seesRunningNodesUp(other));
    }
  }
  const timing = { cqlMs, seenUpMs: Date.now() - begin };
  log(`node ${number} answers CQL after ${(timing.cqlMs / 1000).toFixed(1)} s; the other nodes see it up after ${(timing.seenUpMs / 1000).toFixed(1)} s`);
  return timing;
}

async function waitForExit(node: NodePlace, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (nodePid(node) !== null) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Clean shutdown (SIGTERM: Cassandra drains and stops); SIGKILL if it has not exited within a minute. */
export async function stopNode(number: NodeNumber, log: Log = quiet): Promise<void> {
  await stopPlace(localNode(number), log);
}

async function stopPlace(node: NodePlace, log: Log): Promise<void> {
  const pid = nodePid(node);
  if (pid === null) return;
  process.kill(pid, 'SIGTERM');
  process.kill(pid, 'SIGCONT'); // a paused JVM cannot run its shutdown hook
  if (!(await waitForExit(node, 60_000))) {
    log(`node ${node.number} did not stop within 60 s; killing it`);
    process.kill(pid, 'SIGKILL');
    await waitForExit(node, 10_000);
  }
  log(`node ${node.number} stopped`);
}

/** Which member the spare stands in for, while it does (its number, in a file of the spare's directory), or null. */
const spareRecord = join(paths.spare, 'replaces');
function replacedMember(): NodeNumber | null {
  if (!existsSync(spareRecord)) return null;
  const recorded = Number(readFileSync(spareRecord, 'utf8'));
  return allNodes().find((node) => node.number === recorded)?.number ?? null;
}

/**
 * Starts `node` empty, as a new machine taking over the place of the node at
 * `replaced` (which must be down): Cassandra's replace_address_first_boot. It streams
 * the place's data from the others and takes its token; returns once it answers CQL
 * and every other running member lists it in place of the old address.
 */
async function startReplacing(node: NodePlace, replaced: string, log: Log): Promise<void> {
  if (processState(node) !== 'stopped') throw new Error(`${node.address} is running: only a stopped node's place is taken anew`);
  rmSync(node.dir, { recursive: true, force: true });
  const begin = Date.now();
  spawnNode(node, ensureCassandra(log), { replacing: replaced });
  await waitFor('it has streamed its data and answers CQL', node, () => answersCql(node), 300_000);
  for (const other of allNodes()) {
    if (other.address === node.address || processState(other) !== 'running') continue;
    await waitFor(`node ${other.number} lists it in place of ${replaced}`, node, async () => {
      const peers = await queryNode(other, 'SELECT peer FROM system.peers_v2').then((result) => result.rows.map((row) => String(row.get('peer'))), (): string[] => []);
      return peers.includes(node.address) && !peers.includes(replaced);
    });
  }
  log(`${node.address} replaced ${replaced} in ${((Date.now() - begin) / 1000).toFixed(1)} s`);
}

/**
 * Member `number` replaced by a new machine at a new address, as after a reimage that
 * changes the address: the member stops for good and the spare (127.0.0.4, spareNode)
 * takes its place. `putBack` reverses it. Returns the spare's address.
 */
export async function replaceNode(number: NodeNumber, log: Log = quiet): Promise<string> {
  const member = localNode(number);
  const spare = spareNode(member);
  await stopNode(number, log);
  ensureNodeCertificate(spare);
  try {
    await startReplacing(spare, member.address, log);
  } catch (error) {
    // Never half replaced: the member, with its data, is still the place's owner, and restore() starts it.
    await stopPlace(spare, log);
    rmSync(spare.dir, { recursive: true, force: true });
    throw error;
  }
  writeFileSync(spareRecord, String(number));
  return spare.address;
}

/** The member the spare replaced, back at its own address: a new, empty machine replacing the spare in turn. */
export async function putBack(log: Log = quiet): Promise<void> {
  const number = replacedMember();
  if (number === null) return;
  const member = localNode(number);
  const spare = spareNode(member);
  await stopPlace(spare, log);
  await startReplacing(member, spare.address, log);
  rmSync(spare.dir, { recursive: true, force: true });
}

/** Writes node n's memtables to disk now (nodetool flush), so that its load says all it holds. */
export function flushNode(n: NodeNumber, log: Log = quiet): void {
  nodetool(localNode(n), ensureCassandra(log), ['flush']);
}

/**
 * The 2025-03-31 outage's disk, for real: node n's data directory moves onto a small
 * filesystem of its own, a filler takes all of it but `roomMebibytes` (small-disk.ts),
 * and the node starts again. Session traffic then fills the room.
 */
export async function giveSmallDisk(n: NodeNumber, options: SmallDiskOptions, log: Log = quiet): Promise<SmallDiskSettings> {
  await stopNode(n, log);
  const settings = moveToSmallDisk(n, options);
  await startNode(n, log);
  log(`node ${n} runs on a small disk: ${settings.maxDiskMebibytes} MiB are Cassandra's, ${options.roomMebibytes} MiB of them free`);
  return settings;
}

/** The node on a small disk, if any, back on its own directory and the data it had before (small-disk.ts says why); it is left stopped (restore() starts it). */
export async function takeBackSmallDisk(log: Log = quiet): Promise<void> {
  const settings = smallDisk();
  if (settings === null) return;
  // Killed: a node whose disk filled does not stop within a minute.
  await killNode(settings.node, log);
  leaveSmallDisk();
  log(`node ${settings.node} is back on its own disk`);
}

/** SIGKILL: the node vanishes without telling anyone, like a power cut. */
export async function killNode(number: NodeNumber, log: Log = quiet): Promise<void> {
  const node = localNode(number);
  const pid = nodePid(node);
  if (pid === null) return;
  process.kill(pid, 'SIGKILL');
  // Whoever goes on (a restart, an unmount of its disk) needs it gone, not going.
  if (!(await waitForExit(node, 30_000))) throw new Error(`node ${number} (pid ${pid}) has not exited 30 s after SIGKILL`);
  log(`node ${number} killed`);
}

/** SIGSTOP: the node hangs with its sockets open, like a long GC pause or a frozen host. */
export function pauseNode(number: NodeNumber, log: Log = quiet): void {
  signalRunning(number, 'SIGSTOP');
  log(`node ${number} paused`);
}

export function resumeNode(number: NodeNumber, log: Log = quiet): void {
  signalRunning(number, 'SIGCONT');
  log(`node ${number} resumed`);
}

function signalRunning(number: NodeNumber, signal: NodeJS.Signals): void {
  const pid = nodePid(localNode(number));
  if (pid === null) throw new Error(`node ${number} is not running`);
  process.kill(pid, signal);
}

/**
 * The 2023-01-24 reboot (T327954): node n goes down hard and comes back unable to hear
 * its peers, serving CQL all the same. With `peersKeepItUp` its peers never convict
 * it, so they see it UP while it sees them DOWN; otherwise both sides see each other
 * DOWN. With `gossipOnly` only its peers' gossip is cut (the faithful variant: replica
 * traffic to it flows); without, every internode packet to it (the harsh variant).
 * Returns when the node answers CQL and refuses LOCAL_QUORUM, counting its peers down
 * (epoch ms). See faults.ts.
 */
export async function rebootIsolated(n: NodeNumber, log: Log = quiet, options: IsolationOptions = {}): Promise<number> {
  if (options.peersKeepItUp) await isolateNode(n, options);
  // The fault is checked before a scenario goes on: under heavy load on two cores a peer's gossip has, rarely and
  // unexplained, reached a rebooted node the rule should have kept deaf (its handshake should never have passed).
  // Then the node is rebooted again, as one repeats an experiment whose fault did not take hold, and the log says so.
  for (let attempt = 1; ; attempt++) {
    await killNode(n, log);
    await isolateNode(n, { gossipOnly: options.gossipOnly ?? false });
    await startNode(n, log, { waitForPeers: false });
    if (!(await hearsItsPeers(localNode(n)))) break;
    if (attempt === rebootAttempts) throw new Error(`node ${n} heard its peers on each of its ${rebootAttempts} returns: the isolation did not take hold`);
    log(`node ${n} is back but heard its peers: the isolation did not take hold; rebooting it again`);
  }
  const cut = options.gossipOnly ? "its peers' gossip never reaches it" : 'drops every internode packet sent to it';
  log(`node ${n} is back and serves CQL, but ${cut}${options.peersKeepItUp ? '; its peers never convict it' : ''}`);
  return Date.now();
}

const rebootAttempts = 3;

/**
 * Whether a node counts its data center's quorum alive: a LOCAL_QUORUM read it
 * coordinates succeeds. A node deaf to its peers counts only itself and refuses it
 * (Unavailable) at once; any other answer is asked again, a few times.
 */
async function hearsItsPeers(node: LocalNode): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await queryNode(node, `SELECT k FROM ${livenessKeyspace(node.dataCenter)}.nodes WHERE k = 0`, [], consistencies.localQuorum, 5000);
      return true;
    } catch (error) {
      if (describeCassandraError(error).code === 'Unavailable') return false;
      if (attempt === 3) throw new Error(`cannot tell whether node ${node.number} hears its peers: ${(error as Error).message}`, { cause: error });
      await sleep(1000);
    }
  }
}

/** Removes every network fault and failure-detector change the lab made. */
export async function heal(log: Log = quiet): Promise<void> {
  const rules = activeRules().length;
  await healAll((n) => processState(localNode(n)) === 'running');
  log(rules > 0 ? `removed ${rules} iptables rule${rules === 1 ? '' : 's'}; failure detectors at their default` : 'no network faults in place');
}

/**
 * Heals T327954 the way the cluster flapped when the real Kask met it: the peers'
 * failure detectors go back to their default while the rules still hold, so the peers,
 * which have not heard node 1's heartbeat since its reboot, convict it at once; after
 * `convictMs` the rules go, they hear it again and mark it UP. Every client driver
 * hears the DOWN and the UP events.
 */
export async function healWithFlap(log: Log = quiet, convictMs = 3000): Promise<void> {
  await resetFailureDetectors((n) => processState(localNode(n)) === 'running');
  log('failure detectors at their default: the peers convict the node they have not heard');
  await sleep(convictMs);
  await heal(log);
}

/**
 * Leaves the cluster as a scenario found it, also after a failure half way: network
 * faults healed, paused nodes resumed, stopped nodes started, and a node stopped half
 * way through its start (a reboot) waited for until it answers CQL.
 */
export async function restore(log: Log = quiet): Promise<void> {
  await heal(log);
  await putBack(log);
  await takeBackSmallDisk(log);
  const nodes = await status();
  for (const node of nodes) if (node.process === 'paused') resumeNode(node.number, log);
  await Promise.all(nodes.map(async (node) => {
    if (node.process === 'stopped') await startNode(node.number, log);
    else if (!node.answersCql) await waitFor('it answers CQL', localNode(node.number), () => answersCql(localNode(node.number)));
  }));
}

/** Stops every node; with `wipe`, also deletes their data, so the next `up` starts a new cluster. */
export async function down(log: Log = quiet, options: { wipe?: boolean } = {}): Promise<void> {
  await heal();
  const replaced = replacedMember();
  if (replaced !== null) await stopPlace(spareNode(localNode(replaced)), log);
  const nodes = members();
  await Promise.all(nodes.map((node) => stopNode(node.number, log)));
  leaveSmallDisk();
  if (options.wipe) {
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
    // The superuser lives in the data: a new cluster needs it made anew.
    rmSync(paths.credentials, { force: true });
    log('cluster data deleted');
  }
}

export { allNodes, localNode, secondDataCenterNodes, type LocalNode, type NodeNumber };
export { blockGroupFrom, isolateNode, type IsolationOptions } from './faults.ts';
