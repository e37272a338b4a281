// The fleet lease: at most one sidecar per data center restarts its service at a
// time. A Cassandra lightweight transaction on a sidecar-owned table, with a TTL so
// the lease expires if its holder dies; no other infrastructure.
//   CREATE TABLE <keyspace>.sidecar_leases (scope text PRIMARY KEY, holder text, acquired_at timestamp)
import cassandra from 'cassandra-driver';

const { consistencies } = cassandra.types;
const options = { prepare: true, consistency: consistencies.localQuorum, serialConsistency: consistencies.localSerial };

export class FleetLease {
  readonly #client: cassandra.Client;
  readonly #table: string;
  readonly #scope: string;
  readonly #ttlSeconds: number;
  readonly holder: string;

  constructor(client: cassandra.Client, options: { keyspace: string; scope: string; holder: string; ttlSeconds: number }) {
    this.#client = client;
    this.#table = `${options.keyspace}.sidecar_leases`;
    this.#scope = options.scope;
    this.holder = options.holder;
    this.#ttlSeconds = options.ttlSeconds;
  }

  /** Takes the lease if nobody holds it; returns who holds it now. */
  async acquire(): Promise<{ acquired: boolean; holder: string | null }> {
    const result = await this.#client.execute(
      `INSERT INTO ${this.#table} (scope, holder, acquired_at) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS USING TTL ${this.#ttlSeconds}`,
      [this.#scope, this.holder], options);
    const row = result.first();
    const applied = row.get('[applied]') as boolean;
    return { acquired: applied, holder: applied ? this.holder : (row.get('holder') as string | null) };
  }

  /** Gives the lease back, only if we still hold it. */
  async release(): Promise<void> {
    await this.#client.execute(`DELETE FROM ${this.#table} WHERE scope = ? IF holder = ?`, [this.#scope, this.holder], options);
  }
}
