// The sidecar's cluster view in a test: a ClusterMonitor with a readable log, and
// polling helpers that fail with the view in the message.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { ClusterMonitor, type Resolve } from '../../src/cluster/cluster-monitor.ts';
import type { ClusterView } from '../../src/cluster/view.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createRegistry, type Registry } from '../../src/telemetry/metrics.ts';
import { testLogger } from './http.ts';

export async function startTestMonitor(t: Test, cassandra: Record<string, unknown>, resolve?: Resolve): Promise<{ monitor: ClusterMonitor; registry: Registry; logLines: () => Record<string, unknown>[] }> {
  const config = parseConfig({ cassandra });
  const registry = createRegistry('test');
  const { logger, lines } = testLogger();
  const monitor = new ClusterMonitor(config.cassandra, registry, logger, resolve ? { resolve } : {});
  t.teardown(() => { monitor.stop(); });
  await monitor.start();
  return { monitor, registry, logLines: lines };
}

/** Polls the view every 50 ms; returns the ms it took, or fails after `limitMs`. */
export async function waitFor(monitor: ClusterMonitor, condition: (view: ClusterView) => boolean, limitMs: number): Promise<number> {
  const began = Date.now();
  while (!condition(monitor.view())) {
    if (Date.now() - began > limitMs) {
      throw new Error(`condition not met within ${limitMs} ms; nodes: ${JSON.stringify(monitor.view().nodes.map((n) => [n.address, n.reachable, n.breaker, n.lastError?.code]))}`);
    }
    await sleep(50);
  }
  return Date.now() - began;
}

export const metric = async (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
  (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value;
