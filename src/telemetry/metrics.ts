// The metric registry. Metric names and labels are a public contract: SREs alert on
// them. Each component registers its own metrics here through a shared Registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricPrefix = 'sessionstore_sidecar_';

export function createRegistry(version: string): Registry {
  const registry = new Registry();
  // The event-loop lag is sampled every 50 ms, not prom-client's default 10 ms: 100 wakeups a
  // second cost 6.5 ms of CPU per second on an idle sidecar (20 wakeups: 1.4 ms), and a stall
  // of 50 ms or more still delays a sample, so the lag maximum still shows it.
  collectDefaultMetrics({ register: registry, prefix: metricPrefix, eventLoopMonitoringPrecision: 50 });
  new Gauge({ name: `${metricPrefix}build_info`, help: 'Always 1; the sidecar version as a label.', labelNames: ['version'], registers: [registry] })
    .labels(version)
    .set(1);
  return registry;
}

export { Counter, Gauge, Histogram, Registry };
