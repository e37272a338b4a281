// What happened, when, and who saw it: the demo's own steps (faults), what each
// fleet's sidecars logged that a person cares about, the balancer's endpoint changes,
// and the alerts Prometheus fired. Printed live and kept for the report.
import type { Fleet } from '../fleet/fleet.ts';
import type { Progress } from '../progress.ts';

export type EventKind = 'fault' | 'sidecar' | 'endpoints' | 'alert';

export interface TimelineEvent {
  at: number;
  kind: EventKind;
  /** The fleet it concerns (null: the cluster, for both). */
  fleet: string | null;
  text: string;
}

/** Sidecar log messages worth a line, by how they begin. */
const notable = [
  'node is unreachable', 'node is reachable as a coordinator', 'node cannot coordinate', 'node coordinates LOCAL_QUORUM again',
  'possible divergence', 'divergence:', 'Cassandra node', "the service's view agrees", 'no action:', 'not restarting',
  "restarting the service's pool", 'dry run: would restart', 'depooled:', 'turning new requests away', 'graceful restart finished', 'repooled',
  'another sidecar', 'the restart failed',
];
/** What every pod of a fleet sees alike (the cluster) is said once per fleet. */
const clusterWide = ['node ', 'Cassandra node', 'membership', 'schema'];

export class Timeline {
  readonly #events: TimelineEvent[] = [];
  readonly #progress: Progress;
  readonly #fleets: Fleet[];
  readonly #read = new Map<string, number>();
  readonly #said = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(progress: Progress, fleets: Fleet[]) {
    this.#progress = progress;
    this.#fleets = fleets;
  }

  add(kind: EventKind, fleet: string | null, text: string, at = Date.now()): void {
    this.#events.push({ at, kind, fleet, text });
    this.#progress.line(`${fleet === null ? 'cluster' : fleet}: ${text}`);
  }

  events(): TimelineEvent[] {
    return [...this.#events].sort((a, b) => a.at - b.at);
  }

  /** The first event of a fleet whose text starts with one of `prefixes`, after `from`. */
  first(fleet: string, prefixes: string[], from: number): TimelineEvent | undefined {
    return this.events().find((e) => e.fleet === fleet && e.at >= from && prefixes.some((p) => e.text.includes(p)));
  }

  watch(): void {
    this.#timer = setInterval(() => { this.#poll(); }, 250);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#poll();
  }

  #poll(): void {
    for (const fleet of this.#fleets) {
      for (const pod of fleet.pods) {
        const logs = pod.sidecar.logs;
        for (let i = this.#read.get(pod.name) ?? 0; i < logs.length; i++) {
          const line = logs[i] ?? {};
          const msg = String(line.msg);
          if (!notable.some((prefix) => msg.startsWith(prefix))) continue;
          const address = typeof line.address === 'string' ? ` (${line.address})` : '';
          const text = `${msg.length > 160 ? `${msg.slice(0, 157)}…` : msg}${address}`;
          const at = Date.parse(String(line.time));
          if (clusterWide.some((prefix) => msg.startsWith(prefix))) {
            const key = `${fleet.name} ${text}`;
            if (at - (this.#said.get(key) ?? -Infinity) < 10_000) continue;
            this.#said.set(key, at);
            this.add('sidecar', fleet.name, `sidecars see: ${text}`, at);
          } else {
            this.add('sidecar', fleet.name, `${pod.name}: ${text}`, at);
          }
        }
        this.#read.set(pod.name, logs.length);
      }
      const changes = fleet.balancer.changes();
      for (let i = this.#read.get(`${fleet.name} endpoints`) ?? 0; i < changes.length; i++) {
        const change = changes[i];
        if (change) this.add('endpoints', fleet.name, `balancer: ${change.pod} ${change.inRotation ? 'in rotation' : 'out of rotation'}`, change.at);
      }
      this.#read.set(`${fleet.name} endpoints`, changes.length);
      for (const life of fleet.prometheus.alertLives()) {
        const key = `${fleet.name} ${life.alert} ${JSON.stringify(life.labels)} ${life.activeAt}`;
        if (life.firedAt === null || this.#said.has(key)) continue;
        this.#said.set(key, life.firedAt);
        const where = life.labels.address ?? life.labels.instance ?? '';
        this.add('alert', fleet.name, `Prometheus: ${life.alert} firing${where ? ` for ${where}` : ''} (${life.labels.severity ?? ''})`, life.firedAt);
      }
    }
  }
}
