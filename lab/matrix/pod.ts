// One session-store pod as production runs it, for the matrix: the lab's gocql service
// with Kask's production settings (60 s reconnect interval) and an acting sidecar at its
// defaults in front, plus what the matrix watches: the service's pool, node by node,
// sampled every 500 ms, and the sidecar's restarts.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from '../cleanup.ts';
import { startService, type RunningService, type ServiceOptions } from '../session-service/harness.ts';
import { restartsBy, startSidecar, type Launch, type SidecarProcess } from '../sidecar-process.ts';
import { observePool } from '../../src/service/pool-sockets.ts';

export interface PoolChange {
  at: number;
  address: string;
  /** Connections after the change (0: the pool dropped the node). */
  connections: number;
}

export interface Pod {
  service: RunningService;
  sidecar: SidecarProcess;
  /** Every change in how many connections the service's pool holds to each node. */
  poolChanges: PoolChange[];
  holds(address: string): boolean;
  /** Restarts the sidecar carried out (not dry runs), from its own counter. */
  restarts(): Promise<number>;
  /** When the sidecar logged each depool (epoch ms). */
  depools(): number[];
}

export async function startPod(owner: Cleanup, options: { service?: ServiceOptions; sidecar?: Record<string, Record<string, unknown>>; launch?: Launch } = {}): Promise<Pod> {
  const service = await startService(owner, options.service ?? {});
  const sidecar = await startSidecar(owner, service.url, service.pidFile, options.sidecar ?? {}, options.launch);
  const current = new Map<string, number>();
  const poolChanges: PoolChange[] = [];
  const watching = { on: true };
  owner.teardown(() => { watching.on = false; });
  void (async () => {
    while (watching.on) {
      const pool = await observePool({ pidFile: service.pidFile, nativePort: 9042 }).catch(() => null);
      if (pool) {
        for (const address of new Set([...current.keys(), ...Object.keys(pool.connections)])) {
          const connections = pool.connections[address] ?? 0;
          if (current.get(address) !== connections) poolChanges.push({ at: Date.now(), address, connections });
          current.set(address, connections);
        }
      }
      await sleep(500);
    }
  })();
  return {
    service,
    sidecar,
    poolChanges,
    holds: (address) => (current.get(address) ?? 0) > 0,
    restarts: () => restartsBy(sidecar),
    depools: () => sidecar.logs.filter((l) => String(l.msg).startsWith("restarting the service's pool gracefully")).map((l) => Date.parse(String(l.time))),
  };
}
