import { Counter, Gauge, Histogram, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import { retriedMethods, skipReasons } from './retry-policy.ts';

const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** Methods outside the standard set share one label value, so junk cannot explode cardinality. */
export const methodLabel = (method: string | undefined): string => (method !== undefined && knownMethods.has(method) ? method : 'OTHER');

/** Why a request to the service failed; the `kind` label of upstream_errors_total. */
const upstreamErrorKinds = ['refused', 'reset', 'timeout', 'connect_timeout', 'other'] as const;
export type UpstreamErrorKind = (typeof upstreamErrorKinds)[number];

/** From half a millisecond (the proxy's own hop) to the service's timeouts. */
const durationBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface ProxyMetrics {
  requests: Counter<'method' | 'code'>;
  duration: Histogram;
  upstreamErrors: Counter<'kind'>;
  inflight: Gauge;
  retries: Counter<'method' | 'outcome'>;
  retriesSkipped: Counter<'reason'>;
  retriedDuration: Histogram;
  retryFaultExplained: Gauge;
  bodyBytesHeld: Gauge;
}

export function createProxyMetrics(registry: Registry, bodyBytesHeld: () => number): ProxyMetrics {
  const registers = [registry];
  const metrics: ProxyMetrics = {
    requests: new Counter({
      name: `${metricPrefix}http_requests_total`,
      help: 'Requests answered through the proxy, by method and status code (499: the client went away first).',
      labelNames: ['method', 'code'],
      registers,
    }),
    duration: new Histogram({
      name: `${metricPrefix}http_request_duration_seconds`,
      help: 'Time from the request arriving until its response was sent.',
      buckets: durationBuckets,
      registers,
    }),
    upstreamErrors: new Counter({
      name: `${metricPrefix}upstream_errors_total`,
      help: 'Failed exchanges with the session service: refused, reset, timeout, connect_timeout, other.',
      labelNames: ['kind'],
      registers,
    }),
    inflight: new Gauge({ name: `${metricPrefix}inflight_requests`, help: 'Requests currently in flight through the proxy.', registers }),
    retries: new Counter({
      name: `${metricPrefix}retries_total`,
      help: "Retries of the service's storage errors, by method and outcome: succeeded (the retry was answered), failed (it failed too).",
      labelNames: ['method', 'outcome'],
      registers,
    }),
    retriesSkipped: new Counter({
      name: `${metricPrefix}retries_skipped_total`,
      help: 'Storage errors that were not retried, by reason: budget, no_local_quorum, body_too_large, deadline.',
      labelNames: ['reason'],
      registers,
    }),
    retriedDuration: new Histogram({
      name: `${metricPrefix}retried_request_duration_seconds`,
      help: 'Time from arrival to response of the requests that needed at least one retry: what the shield costs the users it serves.',
      buckets: durationBuckets,
      registers,
    }),
    retryFaultExplained: new Gauge({
      name: `${metricPrefix}retry_fault_explained`,
      help: "1 when the last storage error was explained by unproven local coordinators (their canaries or probes fail) while another's canary succeeds and the failures are no more than their share (retries may use the ceiling_ratio), 0 otherwise (budget_ratio).",
      registers,
    }),
    bodyBytesHeld: new Gauge({
      name: `${metricPrefix}request_body_bytes_held`,
      help: 'Bytes of request bodies held at once, received and not yet answered.',
      registers,
      collect() { this.set(bodyBytesHeld()); },
    }),
  };
  // Every series whose labels are known in advance exists from the start, at 0: a rate is then 0, not absent.
  for (const kind of upstreamErrorKinds) metrics.upstreamErrors.inc({ kind }, 0);
  for (const method of retriedMethods) for (const outcome of ['succeeded', 'failed']) metrics.retries.inc({ method, outcome }, 0);
  for (const reason of skipReasons) metrics.retriesSkipped.inc({ reason }, 0);
  return metrics;
}
