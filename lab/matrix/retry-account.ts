// What the sidecar's retries did over a window, from two reads of its /metrics: tried,
// succeeded, skipped and why, the extra load they put on the cluster, and what they cost the requests they served (p50 and p99 from
// the histograms, interpolated within a bucket as Prometheus' histogram_quantile does).
import { samplesOf, sumOf, type Sample, type SidecarProcess } from '../sidecar-process.ts';
import { skipReasons } from '../../src/proxy/retry-policy.ts';

export interface RetryAccount {
  /** API requests answered through the sidecar in the window. */
  requests: number;
  tried: number;
  succeeded: number;
  failed: number;
  skipped: Record<string, number>;
  /** Attempts beyond one per request, as a share of requests: the extra load on the cluster. */
  extraLoad: number;
  latencyMs: { all: Quantiles; retried: Quantiles };
}

export interface Quantiles {
  p50: number | null;
  p99: number | null;
}

export interface MetricsMark {
  samples: Sample[];
}

const prefix = 'sessionstore_sidecar_';

export async function markOf(sidecar: SidecarProcess): Promise<MetricsMark> {
  return { samples: await samplesOf(sidecar) };
}

/** Cumulative bucket counts of a histogram, as [upper bound, count], from the `_bucket` samples. */
const bucketsOf = (samples: readonly Sample[], histogram: string): [number, number][] =>
  samples.filter((s) => s.name === `${histogram}_bucket`).map((s): [number, number] => [Number(s.labels.le === '+Inf' ? Infinity : s.labels.le), s.value]).sort((a, b) => a[0] - b[0]);

/** A quantile of the observations between two marks, in ms; null without observations. */
export function quantileBetween(before: readonly Sample[], after: readonly Sample[], histogram: string, q: number): number | null {
  const start = new Map(bucketsOf(before, histogram));
  const buckets = bucketsOf(after, histogram).map(([le, count]): [number, number] => [le, count - (start.get(le) ?? 0)]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      // In the +Inf bucket the best known answer is the last finite bound, as histogram_quantile says.
      if (le === Infinity) return lower * 1000;
      return (lower + ((le - lower) * (rank - below)) / Math.max(1, count - below)) * 1000;
    }
    lower = le;
    below = count;
  }
  return lower * 1000;
}

export function accountBetween(before: MetricsMark, after: MetricsMark): RetryAccount {
  const delta = (name: string, labels: Record<string, string> = {}): number => sumOf(after.samples, `${prefix}${name}`, labels) - sumOf(before.samples, `${prefix}${name}`, labels);
  const requests = delta('http_requests_total');
  const succeeded = delta('retries_total', { outcome: 'succeeded' });
  const failed = delta('retries_total', { outcome: 'failed' });
  const skipped: Record<string, number> = {};
  for (const reason of skipReasons) {
    const n = delta('retries_skipped_total', { reason });
    if (n > 0) skipped[reason] = n;
  }
  const tried = succeeded + failed;
  const quantiles = (histogram: string): Quantiles => ({
    p50: quantileBetween(before.samples, after.samples, `${prefix}${histogram}`, 0.5),
    p99: quantileBetween(before.samples, after.samples, `${prefix}${histogram}`, 0.99),
  });
  return {
    requests, tried, succeeded, failed, skipped,
    extraLoad: tried / Math.max(1, requests),
    latencyMs: { all: quantiles('http_request_duration_seconds'), retried: quantiles('retried_request_duration_seconds') },
  };
}
