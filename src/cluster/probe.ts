// The queries that probe one coordinator: whether it answers and what it says about
// itself, its peers and the keyspace's replication; and, separately, its own storage
// and a LOCAL_QUORUM canary of a row the sidecar owns, coordinated by that node. Cheap
// enough to run every two seconds on every node: `system.local` every time; the peers
// (membership changes take minutes) every 10 s, the replication (it changes only with
// an ALTER KEYSPACE) every 30 s and the storage (disks fill over days) every minute;
// and the canary is one query, a write (or a read, for a role that may only read):
// either fails alike when the coordinator counts too few replicas alive.
import type cassandra from 'cassandra-driver';
import { performance } from 'node:perf_hooks';
import { consistencies } from './coordinator-client.ts';
import { describeCassandraError, refusedForDiskUsage, type CassandraError } from './cassandra-errors.ts';
import type { NodeIdentity } from './view.ts';

export type ProbeStep = 'local' | 'peers' | 'schema' | 'storage' | 'canary_write' | 'canary_read';

export interface Member extends NodeIdentity {
  address: string;
}

/** The disk usage guardrail's states, as a node gossips its own (Cassandra 5.0). */
export const diskUsageStates = ['NOT_AVAILABLE', 'SPACIOUS', 'STUFFED', 'FULL'] as const;
export type DiskUsageState = (typeof diskUsageStates)[number];

/**
 * What a node tells a client about its own storage, over CQL, from its virtual tables
 * (Cassandra 4.1 and later). Null where it does not say: the free space of its disks it
 * never tells a client; only the guardrail's verdict on them, when the guardrail is on.
 */
export interface NodeStorage {
  /** Bytes the session keyspace's tables take on the node's data disks (system_views.disk_usage, to the MiB). */
  keyspaceBytes: number | null;
  /** Every keyspace's live data on the node, as its gossip says (system_views.gossip_info `load`). */
  loadBytes: number | null;
  /** The disk usage guardrail's state of the node (gossip_info `disk_usage`); null while it has published none (the guardrail off). */
  diskUsage: DiskUsageState | null;
  /** The disk size the guardrail counts from (`data_disk_usage_max_disk_size`); null: the data disks' own size, which no client can read. */
  maxDiskSizeBytes: number | null;
  /** The guardrail's thresholds, percent of the disk (`data_disk_usage_percentage_warn_threshold`, `..._fail_threshold`); null: off. */
  warnPercent: number | null;
  failPercent: number | null;
  /** What the node does when a data disk fails or fills (`disk_failure_policy`: stop, die, best_effort, ignore...). */
  diskFailurePolicy: string | null;
}

export interface ProbeReport {
  self: Member;
  peers: Member[];
  /** The keyspace's replication factor per data center (NetworkTopologyStrategy), as this node reports it. */
  replication: Record<string, number>;
  latencyMs: number;
}

/** The canary's outcome: `error` null when LOCAL_QUORUM through the node worked; `writesRefused` when its write was refused for a full disk and a read proved it instead. */
export interface CanaryResult {
  error: CassandraError | null;
  writesRefused: CassandraError | null;
}

/** What a node's own gossip state says of each member: the generation and heartbeat it last heard. */
export type GossipHeartbeats = Record<string, string>;

export interface ProbeSettings {
  keyspace: string;
  localDataCenter: string;
  canaryWrites: boolean;
  /** How long a storage reading is reused. */
  storageIntervalMs: number;
  /** The sidecar's own row: one per coordinator, expiring, never a session key. */
  canaryKey: string;
  onStep(step: ProbeStep, seconds: number): void;
  /** Milliseconds on a monotonic clock (tests move it); default performance.now. */
  now?: () => number;
}

const text = (row: cassandra.types.Row, column: string): string | null => {
  // Uuid and InetAddress values print as their canonical text.
  const value = row.get(column) as { toString(): string } | null | undefined;
  return value === null || value === undefined ? null : value.toString();
};

const identity = (row: cassandra.types.Row): NodeIdentity => ({
  hostId: text(row, 'host_id'),
  dataCenter: text(row, 'data_center'),
  rack: text(row, 'rack'),
  releaseVersion: text(row, 'release_version'),
  schemaVersion: text(row, 'schema_version'),
});

const storageSettings = ['data_disk_usage_max_disk_size', 'data_disk_usage_percentage_warn_threshold', 'data_disk_usage_percentage_fail_threshold', 'disk_failure_policy'] as const;

/** How long a node's answers that rarely change are reused (the storage's: its setting). */
const reuseMs = { peers: 10_000, schema: 30_000 } as const;

type ReusedStep = keyof typeof reuseMs | 'storage';

/** The node has no such table (before 4.1) or the role may not read it: an answer, of nothing. */
const lacksTable = (error: unknown): boolean => ['Invalid', 'Unauthorized'].includes(describeCassandraError(error).code);

const mebibyte = 1024 * 1024;
const storageUnits: Record<string, number> = { B: 1, KiB: 1024, MiB: mebibyte, GiB: 1024 * mebibyte, TiB: 1024 * 1024 * mebibyte };

/** A data storage setting as system_views.settings shows it ("500GiB"), in bytes; null when unset or not understood. */
export function storageSettingBytes(value: string | null | undefined): number | null {
  const match = /^(\d+)\s*(B|KiB|MiB|GiB|TiB)$/.exec(value ?? '');
  return match ? Number(match[1]) * (storageUnits[match[2] ?? ''] ?? Number.NaN) : null;
}

/** A guardrail's percentage threshold; -1 (or anything not a percentage) means off. */
const threshold = (value: string | null | undefined): number | null => {
  const n = Number(value);
  return value !== null && value !== undefined && Number.isFinite(n) && n > 0 && n <= 100 ? n : null;
};

export class CoordinatorProbe {
  #peersTable: 'system.peers_v2' | 'system.peers' = 'system.peers_v2';
  readonly #reused = new Map<ReusedStep, { value: unknown; at: number }>();
  readonly #settings: ProbeSettings;

  constructor(settings: ProbeSettings) {
    this.#settings = settings;
  }

  async #timed<T>(step: ProbeStep, work: () => Promise<T>): Promise<T> {
    const begin = performance.now();
    try {
      return await work();
    } finally {
      this.#settings.onStep(step, (performance.now() - begin) / 1000);
    }
  }

  /** A step's last answer while it is fresh enough, else the step's query. */
  async #reuse<T>(step: ReusedStep, read: () => Promise<T>): Promise<T> {
    const last = this.#reused.get(step);
    const now = this.#settings.now ?? performance.now.bind(performance);
    const reuseFor = step === 'storage' ? this.#settings.storageIntervalMs : reuseMs[step];
    if (last !== undefined && now() - last.at < reuseFor) return last.value as T;
    const value = await this.#timed(step, read);
    this.#reused.set(step, { value, at: now() });
    return value;
  }

  /** Whether the node answers as a coordinator, and what it says about itself and its peers. */
  async run(client: cassandra.Client): Promise<ProbeReport> {
    const started = performance.now();
    const timed = <T>(step: ProbeStep, work: () => Promise<T>): Promise<T> => this.#timed(step, work);
    const localRow = (await timed('local', () =>
      client.execute('SELECT host_id, data_center, rack, release_version, schema_version, rpc_address FROM system.local', [], { consistency: consistencies.localOne }),
    )).first();
    const self: Member = { address: text(localRow, 'rpc_address') ?? '', ...identity(localRow) };
    const peers = await this.#reuse('peers', () => this.#peers(client));
    const replication = await this.#reuse('schema', () => this.#replication(client));
    return { self, peers, replication, latencyMs: performance.now() - started };
  }

  /**
   * The node's own storage (`hostId` names its own gossip row), read at most once per
   * storage interval (a minute by default) and otherwise the last reading. A node too
   * old for a virtual table, or a role refused one, gives nulls for what that table
   * says. A table that did not answer (a busy node's timeout) fails the reading: it
   * says nothing, and the last reading stands rather than a gap in the load's series,
   * which would blind the growth alerts for a whole window.
   */
  storage(client: cassandra.Client, hostId: string | null): Promise<NodeStorage> {
    return this.#reuse('storage', () => this.#storage(client, hostId));
  }

  async #storage(client: cassandra.Client, hostId: string | null): Promise<NodeStorage> {
    const rows = async (query: string, params: unknown[] = []): Promise<cassandra.types.Row[]> => {
      try {
        return (await client.execute(query, params, { prepare: params.length > 0, consistency: consistencies.localOne })).rows;
      } catch (error) {
        if (lacksTable(error)) return [];
        throw error;
      }
    };
    const number = (value: string | null): number | null => (value === null || !Number.isFinite(Number(value)) ? null : Number(value));
    const tables = await rows('SELECT mebibytes FROM system_views.disk_usage WHERE keyspace_name = ?', [this.#settings.keyspace]);
    // Every member's gossip is there: the node's own row is the one with its host ID.
    const own = (await rows('SELECT host_id, load, disk_usage FROM system_views.gossip_info')).find((row) => text(row, 'host_id') === hostId);
    const settings = new Map((await rows(`SELECT name, value FROM system_views.settings WHERE name IN (${storageSettings.map(() => '?').join(', ')})`, [...storageSettings]))
      .map((row) => [text(row, 'name'), text(row, 'value')]));
    const diskUsage = own ? text(own, 'disk_usage') : null;
    return {
      keyspaceBytes: tables.length === 0 ? null : tables.reduce((sum, row) => sum + (number(text(row, 'mebibytes')) ?? 0), 0) * mebibyte,
      loadBytes: own ? number(text(own, 'load')) : null,
      diskUsage: diskUsageStates.find((state) => state === diskUsage) ?? null,
      maxDiskSizeBytes: storageSettingBytes(settings.get('data_disk_usage_max_disk_size')),
      warnPercent: threshold(settings.get('data_disk_usage_percentage_warn_threshold')),
      failPercent: threshold(settings.get('data_disk_usage_percentage_fail_threshold')),
      diskFailurePolicy: settings.get('disk_failure_policy') ?? null,
    };
  }

  /**
   * The LOCAL_QUORUM canary: a write of the sidecar's own row (or, for a role that may
   * only read, a read of it), coordinated by this node. The row lives in the sidecar's
   * own table of the session keyspace: the same replication as the sessions, and a
   * role that needs no grant on session data (k8s/cassandra/sidecar-role.cql). Any failure, an error Cassandra
   * answered (Unavailable, WriteTimeout, Unauthorized…) or no answer in time, means
   * this node cannot coordinate LOCAL_QUORUM right now. But a write refused because a
   * replica's disk is full says nothing of coordination, and every coordinator refuses
   * it alike: a read then proves the node, and the refusal is reported apart.
   */
  async canary(client: cassandra.Client): Promise<CanaryResult> {
    const { keyspace, canaryKey, canaryWrites } = this.#settings;
    const options = { prepare: true, consistency: consistencies.localQuorum };
    const read = (): Promise<CassandraError | null> => this.#attempt('canary_read', () =>
      client.execute(`SELECT value FROM ${keyspace}.sidecar_canary WHERE key = ?`, [canaryKey], options));
    if (!canaryWrites) return { error: await read(), writesRefused: null };
    const error = await this.#attempt('canary_write', () => client.execute(`INSERT INTO ${keyspace}.sidecar_canary (key, value) VALUES (?, ?) USING TTL 3600`,
      [canaryKey, Buffer.from(new Date().toISOString())], options));
    if (error === null || !refusedForDiskUsage(error)) return { error, writesRefused: null };
    return { error: await read(), writesRefused: error };
  }

  /** One timed canary query: null when it succeeded, else Cassandra's error. */
  async #attempt(step: ProbeStep, query: () => Promise<unknown>): Promise<CassandraError | null> {
    try {
      await this.#timed(step, query);
      return null;
    } catch (error) {
      return describeCassandraError(error);
    }
  }

  async #peers(client: cassandra.Client): Promise<Member[]> {
    const v2 = this.#peersTable === 'system.peers_v2';
    try {
      const result = await client.execute(
        v2 ? 'SELECT native_address, host_id, data_center, rack, release_version, schema_version FROM system.peers_v2'
          : 'SELECT rpc_address, host_id, data_center, rack, release_version, schema_version FROM system.peers',
        [], { consistency: consistencies.localOne });
      // A peer still joining may have no address yet; like the drivers, skip it until it has one.
      return result.rows.flatMap((row) => {
        const address = text(row, v2 ? 'native_address' : 'rpc_address');
        return address === null ? [] : [{ address, ...identity(row) }];
      });
    } catch (error) {
      // Before Cassandra 4.0 there is no peers_v2: fall back once, for good.
      if (v2 && describeCassandraError(error).code === 'Invalid') {
        this.#peersTable = 'system.peers';
        return this.#peers(client);
      }
      throw error;
    }
  }

  async #replication(client: cassandra.Client): Promise<Record<string, number>> {
    const row = (await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [this.#settings.keyspace], { prepare: true, consistency: consistencies.localOne })).first() as cassandra.types.Row | null;
    const replication = (row?.get('replication') ?? {}) as Record<string, string>;
    // SimpleStrategy names one factor for the whole ring; it then counts for this node's data center.
    const entries = Object.entries(replication)
      .map(([dc, factor]): [string, number] => [dc === 'replication_factor' ? this.#settings.localDataCenter : dc, Number(factor)])
      .filter(([dc, factor]) => dc !== 'class' && Number.isInteger(factor));
    return Object.fromEntries(entries);
  }

  /**
   * The node's own gossip state: the heartbeat it last heard from every member. A
   * heartbeat that stops advancing is a peer this node no longer hears. Read only
   * when its canary fails; null where the table does not exist (before Cassandra 4.1).
   */
  async gossipHeartbeats(client: cassandra.Client): Promise<GossipHeartbeats | null> {
    try {
      const rows = (await client.execute('SELECT address, generation, heartbeat FROM system_views.gossip_info', [], { consistency: consistencies.localOne })).rows;
      return Object.fromEntries(rows.map((row) => [text(row, 'address') ?? '', `${text(row, 'generation') ?? ''}:${text(row, 'heartbeat') ?? ''}`]));
    } catch {
      return null;
    }
  }
}
