// The metric registry. Metric names and labels are a public contract: SREs alert on
// them. Each component registers its own metrics here through a shared Registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricPrefix = 'sessionstore_sidecar_';

export function createRegistry(version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: metricPrefix });
  new Gauge({ name: `${metricPrefix}build_info`, help: 'Always 1; the sidecar version as a label.', labelNames: ['version'], registers: [registry] })
    .labels(version)
    .set(1);
  return registry;
}

export { Counter, Gauge, Histogram, Registry };
