// The metric registry. Metric names and labels are a public contract: SREs alert on
// them. Each component registers its own metrics here through a shared Registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricPrefix = 'sessionstore_sidecar_';

/**
 * How often the event loop's lag is sampled: every 50 ms, not prom-client's default 10 ms
 * (100 wakeups a second cost 6.5 ms of CPU per second on an idle sidecar, 20 wakeups
 * 1.4 ms). The nodejs_eventloop_lag_* series measure the time between two samples
 * (Node's monitorEventLoopDelay), so they include these 50 ms: an idle sidecar's maximum
 * is about 50 ms, and one of 62 ms is a stall of 12 ms or more.
 */
export const eventLoopSamplingMs = 50;

export function createRegistry(version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: metricPrefix, eventLoopMonitoringPrecision: eventLoopSamplingMs });
  new Gauge({ name: `${metricPrefix}build_info`, help: 'Always 1; the sidecar version as a label.', labelNames: ['version'], registers: [registry] })
    .labels(version)
    .set(1);
  return registry;
}

/**
 * Removes every series of `metric` whose labels include `match` (prom-client's remove()
 * needs a series' whole label set): a forgotten node leaves no series behind.
 */
export async function removeSeriesWith(metric: Counter | Gauge | Histogram, match: Record<string, string>): Promise<void> {
  const { values } = await metric.get();
  const removed = new Set<string>();
  for (const { labels } of values) {
    if (!Object.entries(match).every(([name, value]) => labels[name] === value)) continue;
    // A histogram's bucket bound is not a label of its series.
    const series = Object.fromEntries(Object.entries(labels).filter(([name]) => name !== 'le'));
    const key = JSON.stringify(series);
    if (removed.has(key)) continue;
    removed.add(key);
    metric.remove(series as Record<string, string>);
  }
}

export { Counter, Gauge, Histogram, Registry };
