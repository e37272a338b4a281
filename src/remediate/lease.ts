// The fleet lease: at most one sidecar per data center restarts its service at a
// time. A Cassandra lightweight transaction on a sidecar-owned table, with a TTL so
// the lease expires if its holder dies; no other infrastructure.
// A holder is named POD:PID. A pod runs one sidecar at a time (the kubelet starts a
// container again only once its process has exited), so a lease held under this pod's
// name by another process was held by this pod's previous sidecar, which died holding
// it: the new one takes it over at once rather than wait out the TTL with its own pod
// still stale.
//   CREATE TABLE <keyspace>.sidecar_leases (scope text PRIMARY KEY, holder text, acquired_at timestamp)
import cassandra from 'cassandra-driver';
import { describeCassandraError } from '../cluster/cassandra-errors.ts';

const { consistencies } = cassandra.types;

/** A lightweight transaction that timed out in its Paxos phase: whether it applied is not known. */
const isCasTimeout = (error: unknown): boolean =>
  describeCassandraError(error).code === 'WriteTimeout' && (error as { writeType?: unknown }).writeType === 'CAS';
const options = { prepare: true, consistency: consistencies.localQuorum, serialConsistency: consistencies.localSerial };

export class FleetLease {
  readonly #client: cassandra.Client;
  readonly #table: string;
  readonly #scope: string;
  readonly #ttlSeconds: number;
  readonly holder: string;
  readonly #pod: string;

  /** `pod`: this pod's name (its host name); the holder is `pod:pid`. */
  constructor(client: cassandra.Client, options: { keyspace: string; scope: string; pod: string; pid: number; ttlSeconds: number }) {
    this.#client = client;
    this.#table = `${options.keyspace}.sidecar_leases`;
    this.#scope = options.scope;
    this.#pod = options.pod;
    this.holder = `${options.pod}:${options.pid}`;
    this.#ttlSeconds = options.ttlSeconds;
  }

  /** Takes the lease if nobody holds it, or if this pod's previous sidecar does (`tookOverFrom`); returns who holds it now. */
  async acquire(): Promise<{ acquired: boolean; holder: string | null; tookOverFrom?: string }> {
    const taken = await this.#insert();
    const previous = taken.holder;
    if (taken.acquired || previous === null || !this.#heldByThisPodBefore(previous)) return taken;
    const tookOver = await this.#appliedAsHolder(
      `UPDATE ${this.#table} USING TTL ${this.#ttlSeconds} SET holder = ?, acquired_at = toTimestamp(now()) WHERE scope = ? IF holder = ?`,
      [this.holder, this.#scope, previous]);
    return tookOver ? { acquired: true, holder: this.holder, tookOverFrom: previous } : { acquired: false, holder: await this.#holderNow() };
  }

  /** The last colon separates the pod from the pid. */
  #heldByThisPodBefore(holder: string): boolean {
    return holder !== this.holder && holder.slice(0, holder.lastIndexOf(':')) === this.#pod;
  }

  async #insert(): Promise<{ acquired: boolean; holder: string | null }> {
    let result: cassandra.types.ResultSet;
    try {
      result = await this.#client.execute(
        `INSERT INTO ${this.#table} (scope, holder, acquired_at) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS USING TTL ${this.#ttlSeconds}`,
        [this.#scope, this.holder], options);
    } catch (error) {
      // Two sidecars proposing at once can make a Paxos round time out with its outcome
      // unknown: the insert may have applied. A serial read finishes any round in flight
      // and says who holds the lease, us included.
      if (!isCasTimeout(error)) throw error;
      const holder = await this.#holderNow();
      return { acquired: holder === this.holder, holder };
    }
    const row = result.first();
    const applied = row.get('[applied]') as boolean;
    return { acquired: applied, holder: applied ? this.holder : (row.get('holder') as string | null) };
  }

  /**
   * Another TTL for the lease we hold, as client-go's leader renews its lease: a restart
   * that outlasts the TTL must not let a second pod depool beside it. False: we no
   * longer hold it (it expired, or another pod took it).
   */
  renew(): Promise<boolean> {
    return this.#appliedAsHolder(`UPDATE ${this.#table} USING TTL ${this.#ttlSeconds} SET holder = ? WHERE scope = ? IF holder = ?`, [this.holder, this.#scope, this.holder]);
  }

  /** A conditional update that makes us the holder: whether it applied (after a Paxos timeout, whether we hold the lease now). */
  async #appliedAsHolder(query: string, params: string[]): Promise<boolean> {
    try {
      return (await this.#client.execute(query, params, options)).first().get('[applied]') as boolean;
    } catch (error) {
      if (!isCasTimeout(error)) throw error;
      return await this.#holderNow() === this.holder;
    }
  }

  async #holderNow(): Promise<string | null> {
    const row = (await this.#client.execute(`SELECT holder FROM ${this.#table} WHERE scope = ?`, [this.#scope], { prepare: true, consistency: consistencies.localSerial })).first() as cassandra.types.Row | null;
    return (row?.get('holder') as string | null | undefined) ?? null;
  }

  /** Gives the lease back, only if we still hold it. */
  async release(): Promise<void> {
    await this.#client.execute(`DELETE FROM ${this.#table} WHERE scope = ? IF holder = ?`, [this.#scope, this.holder], options);
  }
}
