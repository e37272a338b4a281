// Every metric and label that the alert rules and the dashboard name is one a live
// sidecar really exports (or a label Prometheus adds to every target): a renamed
// metric or label would silently make an alert unable to fire. And every expression
// of the dashboard, asked of a real Prometheus scraping that sidecar, returns series.
import t from 'tap';
import { request } from 'undici';
import { alerts } from '../../k8s/monitoring/alerts.ts';
import { dashboardQueries } from '../../k8s/monitoring/dashboard.ts';
import { labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { startPrometheus } from '../../lab/prometheus.ts';
import { sessionTraffic } from '../../lab/traffic.ts';

/** Labels every scraped series gets from Prometheus itself, and `le` of histogram buckets is the sidecar's. */
const targetLabels = new Set(['job', 'instance']);

/** metric name → label name → values seen, from the Prometheus text format. */
function exported(text: string): Map<string, Map<string, Set<string>>> {
  const metrics = new Map<string, Map<string, Set<string>>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? \S+$/.exec(line);
    if (!match?.[1]) continue;
    const labels = metrics.get(match[1]) ?? new Map<string, Set<string>>();
    metrics.set(match[1], labels);
    for (const [, name = '', value = ''] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels.set(name, (labels.get(name) ?? new Set()).add(value));
    }
  }
  return metrics;
}

/** What is wrong with one PromQL expression against what the sidecar exports. */
function problems(expr: string, metrics: Map<string, Map<string, Set<string>>>): string[] {
  const found: string[] = [];
  const named = [...expr.matchAll(/\b(sessionstore_sidecar_\w+)(\{[^}]*\})?/g)];
  const usesUp = /\bup\{/.test(expr);
  if (named.length === 0 && !usesUp) found.push('names no metric');
  const labelsOfExpr = new Set<string>();
  for (const [, name = '', selector = ''] of named) {
    const labels = metrics.get(name);
    if (!labels) { found.push(`${name} is not exported`); continue; }
    for (const l of labels.keys()) labelsOfExpr.add(l);
    for (const [, label = '', op = '', value = ''] of selector.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      if (targetLabels.has(label)) continue;
      const values = labels.get(label);
      if (!values) { found.push(`${name} has no label ${label}`); continue; }
      if (op === '=' && !values.has(value)) found.push(`${name}{${label}="${value}"}: no such series (values: ${[...values].join(', ')})`);
      // A plain alternation names values: each must exist. A pattern (code=~"5..") names a family
      // whose members appear when they happen: its label is enough.
      if (op === '=~' && /^[\w|]+$/.test(value)) {
        for (const v of value.split('|')) if (!values.has(v)) found.push(`${name}{${label}=~"${value}"}: no series with ${label}="${v}"`);
      }
    }
  }
  for (const [, list = ''] of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of list.split(',').map((l) => l.trim()).filter(Boolean)) {
      if (!targetLabels.has(label) && !labelsOfExpr.has(label)) found.push(`groups by ${label}, which none of its metrics has`);
    }
  }
  return found;
}

void t.test('the rules and the dashboard name only what a live sidecar exports', async (t) => {
  const service = await startService(t, labService);
  // A contact point name that does not resolve, so that its lookup's series is exported too.
  const sidecar = await startSidecar(t, service.url, service.pidFile, { cassandra: { contact_points: ['127.0.0.1', 'cassandra-sessionstore.invalid'] } });
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: 20 });
  const prometheus = await startPrometheus(t, [new URL(sidecar.adminUrl).host]);
  const scrape = async (): Promise<string> => (await request(`${sidecar.adminUrl}/metrics`)).body.text();
  // Per-node series appear once the nodes are probed and the service's pool observed; LOCAL_QUORUM's once every node has answered.
  const complete = (text: string): boolean => /service_pool_connections\{address="127\.0\.0\.3"/.test(text) && /broken_coordinator\{address="127\.0\.0\.3"/.test(text) && /^sessionstore_sidecar_local_quorum_available /m.test(text);
  await until(async () => complete(await scrape()), 20_000, 'every series is there');
  // Rates need two scrapes of a series inside their window.
  await until(async () => (await prometheus.query('rate(sessionstore_sidecar_http_requests_total[30s])')).length > 0, 20_000, 'Prometheus has rates');
  for (const expr of dashboardQueries({ job: 'sessionstore-sidecar', rateInterval: '30s' })) {
    t.ok((await prometheus.query(expr)).length > 0, `dashboard, in Prometheus: ${expr.replace(/\s+/g, ' ').slice(0, 120)}`);
  }
  await traffic.stop();
  const metrics = exported(await scrape());
  t.ok(metrics.size > 30, `${metrics.size} metrics exported`);

  const expressions = [
    ...alerts.map((a) => [`alert ${a.alert}`, a.expr] as const),
    ...dashboardQueries({ job: 'sessionstore-sidecar', rateInterval: '1m' }).map((q, i) => [`dashboard query ${i + 1}`, q] as const),
  ];
  for (const [where, expr] of expressions) t.same(problems(expr, metrics), [], `${where}: ${expr.replace(/\s+/g, ' ').slice(0, 120)}`);

  // The check itself bites.
  t.match(problems('rate(sessionstore_sidecar_http_request_total[1m])', metrics), ['sessionstore_sidecar_http_request_total is not exported']);
  t.match(problems('sessionstore_sidecar_view_divergence{rule="stale_pools"}', metrics), [/no such series/]);
  t.match(problems('sessionstore_sidecar_pool_restarts_total{result=~"failed|crashed"}', metrics), [/no series with result="crashed"/]);
  t.match(problems('sum by (node) (sessionstore_sidecar_cassandra_node_up)', metrics), ['groups by node, which none of its metrics has']);
});
