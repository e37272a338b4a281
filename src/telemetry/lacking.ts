// What the sidecar runs without: a secret whose file was missing or unreadable at start
// (its Secret not mounted yet, or without the key). The pod must still serve, so this is
// said, not fatal: one warning line each, and a gauge SREs get a ticket from.
import type { Lacking } from '../config/schema.ts';
import type { Logger } from './logger.ts';
import { Gauge, metricPrefix, type Registry } from './metrics.ts';

const settings: readonly Lacking['setting'][] = ['config', 'cassandra.username_file', 'cassandra.password_file', 'admin.token_file'];

export function reportLacking(lacking: readonly Lacking[], registry: Registry, logger: Logger): void {
  const gauge = new Gauge({
    name: `${metricPrefix}config_lacking`,
    help: 'Always present; 1 for each file (the configuration, a secret) that was missing or unreadable at start (the sidecar runs without it).',
    labelNames: ['setting'], registers: [registry],
  });
  for (const setting of settings) gauge.set({ setting }, lacking.some((l) => l.setting === setting) ? 1 : 0);
  const consequence: Record<Lacking['setting'], string> = {
    config: 'a plain proxy to the service: no view of Cassandra, no retries, no restart (no_config)',
    'cassandra.username_file': 'probes go without credentials; no restart of the service (no_credentials)',
    'cassandra.password_file': 'probes go without credentials; no restart of the service (no_credentials)',
    'admin.token_file': 'operator actions are refused',
  };
  for (const l of lacking) logger.warn({ setting: l.setting, file: l.file, error: l.why }, `running without ${l.setting}: ${consequence[l.setting]}`);
}
