// The data path as one component: the upstream pool, the depool switch, the
// forwarder and its listener, with start and stop.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { CoordinatorHealth } from '../cluster/view.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Registry } from '../telemetry/metrics.ts';
import { Forwarder, type Answer } from './forward.ts';
import { createProxyMetrics } from './metrics.ts';
import { BodyBudget } from './request-body.ts';
import { startProxyServer, type ProxyServer } from './server.ts';
import { TrafficSwitch } from './traffic-switch.ts';

export interface Proxy {
  trafficSwitch: TrafficSwitch;
  server: ProxyServer;
  status(): { upstream: string; inflight: number; depooled: boolean; turningAway: boolean; reason?: string; since?: string };
  /** Depool (readiness fails, serving on for the propagation time), stop accepting, drain in-flight requests (bounded), close. */
  stop(): Promise<void>;
}

export interface ProxyHooks {
  /** Every answer, for the service view's traffic window. */
  onAnswer?: (answer: Answer) => void;
  /** The local coordinators by the sidecar's own probes, for the retry rule. Without a cluster monitor: quorum assumed, no coordinator named. */
  coordinatorHealth?: () => CoordinatorHealth;
}

export async function startProxy(config: Config, registry: Registry, logger: Logger, hooks: ProxyHooks = {}): Promise<Proxy> {
  const origin = new URL(config.upstream.url).origin;
  const upstream = new Pool(origin, {
    connections: config.upstream.connections,
    connect: {
      timeout: config.upstream.connect_timeout_ms,
      ...(config.upstream.ca_file ? { ca: readFileSync(config.upstream.ca_file) } : {}),
    },
  });
  const bodies = new BodyBudget(config.limits.max_buffered_bytes);
  const metrics = createProxyMetrics(registry, () => bodies.held);
  const trafficSwitch = new TrafficSwitch(logger, config.depool.propagation_ms);
  const forwarder = new Forwarder({
    upstream, bodies, config, metrics, logger, trafficSwitch,
    proto: config.listen.tls ? 'https' : 'http',
    coordinatorHealth: hooks.coordinatorHealth ?? (() => ({ localQuorum: true, healthy: 0, broken: 0 })),
    ...(hooks.onAnswer ? { onAnswer: hooks.onAnswer } : {}),
  });
  const server = await startProxyServer(config, forwarder, metrics, logger);
  trafficSwitch.whenTurningAway(() => { server.closeIdleConnections(); });

  return {
    trafficSwitch,
    server,
    status: () => ({ upstream: origin, inflight: forwarder.inflight, ...trafficSwitch.status() }),
    stop: async () => {
      await trafficSwitch.depool('shutting down');
      await server.close(config.shutdown.drain_timeout_ms);
      await upstream.close();
      forwarder.close();
    },
  };
}
