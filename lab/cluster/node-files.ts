// Each node's configuration: cassandra.yaml, the rack/dc file the snitch reads,
// logging, and the JVM command line (Java 17 options from Cassandra's own
// conf/jvm-server.options and conf/jvm17-server.options).
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { allNodes, paths, type NodePlace } from './layout.ts';
import { smallDisk } from './small-disk.ts';

const heap = process.env.SIDECAR_CASSANDRA_HEAP ?? '512M';

/** How a node starts: as the member it is, or as a new machine taking over the place of the node at `replacing`. */
export interface StartAs {
  replacing?: string;
}

/** The size of the filesystem that holds the node's data directory. */
function dataDiskMebibytes(node: NodePlace): number {
  const { blocks, bsize } = statfsSync(join(node.dir, 'data'));
  return Math.floor((blocks * bsize) / (1024 * 1024));
}

function cassandraYaml(node: NodePlace, { replacing }: StartAs): string {
  const dir = (name: string): string => join(node.dir, name);
  const onSmallDisk = smallDisk();
  const small = onSmallDisk?.node === node.number ? onSmallDisk : null;
  // A replacing node must bootstrap, and a seed never does: it lists only the others.
  const seeds = allNodes().filter((n) => replacing === undefined || (n.address !== node.address && n.address !== replacing)).map((n) => `${n.address}:7000`).join(',');
  const ring = replacing === undefined
    ? `initial_token: ${node.initialToken}
# dc1's nodes are all seeds of a new ring, and dc2's join as a new data center whose
# data is rebuilt from dc1 afterwards (Cassandra's procedure): nothing to stream at start.
auto_bootstrap: false`
    : `# Replacing ${replacing}: its token and its data are streamed from the others.
auto_bootstrap: true`;
  return `# Written by lab/cluster for the local test cluster; rewritten at every start.
cluster_name: sessionstore-local
num_tokens: 1
${ring}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${seeds}"
listen_address: ${node.address}
rpc_address: ${node.address}
storage_port: 7000
native_transport_port: 9042
start_native_transport: true
endpoint_snitch: GossipingPropertyFileSnitch
# Like production: password authentication and per-role permissions. Role reads at
# LOCAL_ONE so that tests which stop two of three nodes can still open connections.
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
auth_read_consistency_level: LOCAL_ONE
# TLS is optional on the CQL port (plaintext still works); a TLS client must present a
# certificate signed by the test CA.
client_encryption_options:
  enabled: true
  optional: true
  require_client_auth: true
  keystore: ${join(paths.tls, `node${node.number}.pem`)}
  truststore: ${join(paths.tls, 'ca.crt')}
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
data_file_directories:
  - ${small?.dataDirectory ?? dir('data')}
commitlog_directory: ${dir('commitlog')}
saved_caches_directory: ${dir('saved_caches')}
hints_directory: ${dir('hints')}
cdc_raw_directory: ${dir('cdc_raw')}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
disk_failure_policy: stop
commit_failure_policy: stop
# The disk usage guardrail on, as production should run it: each node gossips SPACIOUS,
# STUFFED or FULL, which the sidecar reads; the disk is this machine's own, or the
# small one lab/cluster/small-disk.ts gives it, of which the data and the room are Cassandra's.
data_disk_usage_max_disk_size: ${small?.maxDiskMebibytes ?? dataDiskMebibytes(node)}MiB
data_disk_usage_percentage_warn_threshold: 90
data_disk_usage_percentage_fail_threshold: 98
concurrent_compactors: 1
# Small machine, three JVMs: keep background work and caches small.
key_cache_size: 8MiB
counter_cache_size: 0MiB
memtable_heap_space: ${small?.memtableMebibytes ?? 64}MiB
memtable_offheap_space: 64MiB
`;
}

function logbackXml(node: NodePlace): string {
  return `<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${join(node.dir, 'logs', 'system.log')}</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`;
}

export function writeNodeFiles(node: NodePlace, startAs: StartAs = {}): void {
  for (const sub of ['conf', 'data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs', 'tmp']) {
    mkdirSync(join(node.dir, sub), { recursive: true });
  }
  writeFileSync(join(node.dir, 'conf', 'cassandra.yaml'), cassandraYaml(node, startAs));
  writeFileSync(join(node.dir, 'conf', 'cassandra-rackdc.properties'), `dc=${node.dataCenter}\nrack=${node.rack}\n`);
  writeFileSync(join(node.dir, 'conf', 'logback.xml'), logbackXml(node));
}

/** Module options Cassandra needs on Java 17, from its conf/jvm17-server.options (nodetool needs them too). */
export const java17Options = [
  '-XX:+UseG1GC', '-XX:+ParallelRefProcEnabled', '-XX:MaxTenuringThreshold=1', '-XX:G1HeapRegionSize=16m',
  '-XX:G1RSetUpdatingPauseTimePercent=5', '-XX:MaxGCPauseMillis=300', '-XX:InitiatingHeapOccupancyPercent=70',
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports', 'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports', 'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports', 'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports', 'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports', 'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports', 'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens', 'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens', 'java.base/java.io=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens', 'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.useCacheForAllThreads=true',
  '-Dio.netty.allocator.maxOrder=11',
];

/**
 * Cassandra's classes, archived once for every later start (Java's AppCDS): a node then
 * starts on about 2 CPU-seconds less, which the suite's thirty node starts on two cores
 * feel. The first node started without an archive writes one when it exits cleanly; at
 * its next start that file becomes the shared archive. A JVM that cannot use an archive
 * (another JDK, a damaged file) says so on stdout and starts without it.
 */
const sharedClassArchive = (lib: string): string => join(dirname(lib), 'classes.jsa');
const dumpedClassArchive = (node: NodePlace, lib: string): string => join(dirname(lib), `classes-node${node.number}.jsa`);

/**
 * Before `node` starts (it is stopped, so the archive it wrote at its last exit is whole):
 * that archive becomes the shared one if there is none yet. Once there is, every node's
 * own is dropped (one from a node that has left, dc2's or the spare, included).
 */
export function settleClassArchive(node: NodePlace, lib: string): void {
  const shared = sharedClassArchive(lib);
  if (!existsSync(shared) && existsSync(dumpedClassArchive(node, lib))) renameSync(dumpedClassArchive(node, lib), shared);
  if (!existsSync(shared)) return;
  for (const file of readdirSync(dirname(lib))) {
    if (/^classes-node\d+\.jsa$/.test(file)) rmSync(join(dirname(lib), file));
  }
}

function classArchiveOptions(node: NodePlace, lib: string): string[] {
  // Cassandra loads jamm as an agent; archiving alongside an agent is a diagnostic option.
  const unlock = ['-XX:+UnlockDiagnosticVMOptions', '-XX:+AllowArchivingWithJavaAgent'];
  const shared = sharedClassArchive(lib);
  return [...unlock, existsSync(shared) ? `-XX:SharedArchiveFile=${shared}` : `-XX:ArchiveClassesAtExit=${dumpedClassArchive(node, lib)}`];
}

/** The java command line for one node (without the `java` itself). */
export function javaArguments(node: NodePlace, lib: string, { replacing }: StartAs = {}): string[] {
  const jars = readdirSync(lib).filter((f) => f.endsWith('.jar'));
  const jamm = jars.find((f) => f.startsWith('jamm-'));
  if (!jamm) throw new Error(`${lib}: jamm jar missing; delete the folder to fetch Cassandra again`);
  const conf = join(node.dir, 'conf');
  return [
    // From conf/jvm-server.options.
    '-ea', '-da:net.openhft...', '-XX:+UseThreadPriorities', '-Xss256k', '-XX:+UseTLAB', '-XX:+ResizeTLAB',
    '-XX:+PerfDisableSharedMem', '-Djava.net.preferIPv4Stack=true',
    ...java17Options,
    `-Xms${heap}`, `-Xmx${heap}`, '-XX:MaxDirectMemorySize=256M',
    // The lab, not production: six JVMs share two cores, and C2's compiler threads double
    // a node's start-up CPU (measured 17.7-20.6 CPU-s to answer CQL, 10.4-11.2 with C1
    // alone). Under the suite's load a node then answered CQL after 30 to 133 s.
    '-XX:TieredStopAtLevel=1',
    ...classArchiveOptions(node, lib),
    // Cassandra measures memtables with jamm; it must be loaded as an agent.
    `-javaagent:${join(lib, jamm)}`,
    `-Dcassandra.jmx.local.port=${node.jmxPort}`,
    `-Dcassandra.config=file://${join(conf, 'cassandra.yaml')}`,
    `-Dcassandra-rackdc.properties=file://${join(conf, 'cassandra-rackdc.properties')}`,
    `-Dlogback.configurationFile=${join(conf, 'logback.xml')}`,
    `-Dcassandra.logdir=${join(node.dir, 'logs')}`,
    `-Dcassandra.storagedir=${node.dir}`,
    // Native libraries (lz4, snappy) are unpacked here rather than left behind in /tmp.
    `-Djava.io.tmpdir=${join(node.dir, 'tmp')}`,
    '-Dcassandra-foreground=yes',
    // A test cluster on one machine: skip the waits meant for real networks.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=1000',
    '-Dcassandra.superuser_setup_delay_ms=0',
    // Each node gossips its load and its disk usage state every second, not every
    // minute: the disk scenarios' climb takes minutes, not weeks.
    '-Dcassandra.broadcast_interval_ms=1000',
    '-Dcassandra.disk_usage.monitor_interval_ms=1000',
    ...(replacing === undefined ? [] : [`-Dcassandra.replace_address_first_boot=${replacing}`]),
    // Jars only: a class archive refuses a directory with files in it on the class path. The node's
    // conf directory need not be there: its three files are named by the properties above.
    '-cp', jars.map((f) => join(lib, f)).join(':'),
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}
