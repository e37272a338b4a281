// The sidecar's Grafana dashboard: the one source of k8s/monitoring/grafana-dashboard.json
// (`npm run generate`), typed against Grafana's own schema (@grafana/schema). Every
// expression is evaluated by a real Prometheus scraping a live sidecar on the real
// cluster (test/alerts/metrics-exist.test.ts): it must parse and return series.
import { DashboardCursorSync, SortOrder, TooltipDisplayMode, VariableRefresh, VisibilityMode, type Dashboard, type Panel, type RowPanel, type VizLegendOptions } from '@grafana/schema';
import type { FieldConfig as StateTimelineFieldConfig, Options as StateTimelineOptions } from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type { FieldConfig as TimeSeriesFieldConfig, Options as TimeSeriesOptions } from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import { alerts, disk, sidecarJob } from './alerts.ts';

const datasource = { type: 'prometheus', uid: '${datasource}' };
const job = 'job="$job"';

interface Query { expr: string; legend: string }
type Kind = 'timeseries' | 'state-timeline';

// @grafana/schema declares LegendDisplayMode twice (index.d.ts and common.gen.d.ts); panel
// options use the second, which the package does not export by name.
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- the same values, the other declaration
const legendMode = (mode: 'list' | 'table'): VizLegendOptions['displayMode'] => mode as VizLegendOptions['displayMode'];

let nextId = 1;
let y = 0;

function panel(kind: Kind, title: string, description: string, unit: string, queries: Query[], x: number, width = 12): Panel {
  const common = {
    id: nextId++, type: kind, title, description, datasource,
    gridPos: { x, y, w: width, h: 8 },
    targets: queries.map((q, i) => ({ refId: String.fromCharCode(65 + i), datasource, expr: q.expr, legendFormat: q.legend })),
  };
  if (kind === 'state-timeline') {
    const options: StateTimelineOptions = { showValue: VisibilityMode.Never, mergeValues: true, rowHeight: 0.8, legend: { showLegend: false, displayMode: legendMode('list'), placement: 'bottom', calcs: [] }, tooltip: { mode: TooltipDisplayMode.Single, sort: SortOrder.None } };
    const custom: StateTimelineFieldConfig = { fillOpacity: 80, lineWidth: 0 };
    return { ...common, options: { ...options }, fieldConfig: { defaults: { unit, custom: { ...custom } }, overrides: [] } };
  }
  const options: TimeSeriesOptions = { legend: { showLegend: true, displayMode: legendMode('table'), placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending } };
  const custom: TimeSeriesFieldConfig = { lineWidth: 1, fillOpacity: 10, showPoints: VisibilityMode.Never };
  return { ...common, options: { ...options }, fieldConfig: { defaults: { unit, custom: { ...custom } }, overrides: [] } };
}

/** Lays rows out top to bottom, two panels side by side. */
function rows(...definitions: [string, ((x: number) => Panel)[]][]): (Panel | RowPanel)[] {
  const out: (Panel | RowPanel)[] = [];
  for (const [title, makers] of definitions) {
    const header: RowPanel = { id: nextId++, type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] };
    y += 1;
    const panels: Panel[] = [];
    makers.forEach((make, i) => {
      if (i > 0 && i % 2 === 0) y += 8;
      panels.push(make((i % 2) * 12));
    });
    y += 8;
    out.push(header, ...panels);
  }
  return out;
}

const rate = (metric: string, matchers = ''): string => `rate(${metric}{${job}${matchers}}[$__rate_interval])`;

export function dashboard(): Dashboard {
  nextId = 1;
  y = 0;
  const panels = rows(
    ['As MediaWiki sees it (through the sidecars)', [
      (x) => panel('timeseries', 'Requests by status', 'Every request answered through the sidecars, by HTTP status. 499: the client left first.', 'reqps',
        [{ expr: `sum by (code) (${rate('sessionstore_sidecar_http_requests_total')})`, legend: '{{code}}' }], x),
      (x) => panel('timeseries', 'Error ratio (5xx)', 'The share of requests answered with a 5xx: what SessionStoreErrorRateHigh pages on (above 5% for 2 minutes).', 'percentunit',
        // 0, not "No data", on a day without a 5xx: no 5xx series exists then.
        [{ expr: `(sum(${rate('sessionstore_sidecar_http_requests_total', ', code=~"5.."')}) or vector(0)) / sum(${rate('sessionstore_sidecar_http_requests_total')})`, legend: '5xx ratio' }], x),
      (x) => panel('timeseries', 'Latency', 'Request arrival to response sent, at the sidecars.', 's',
        [0.5, 0.99].map((q) => ({ expr: `histogram_quantile(${q}, sum by (le) (${rate('sessionstore_sidecar_http_request_duration_seconds_bucket')}))`, legend: `p${q * 100}` })), x),
      (x) => panel('timeseries', 'Failed exchanges with the service', 'After retries: the service refused, reset, or was too slow.', 'reqps',
        [{ expr: `sum by (kind) (${rate('sessionstore_sidecar_upstream_errors_total')})`, legend: '{{kind}}' }], x),
    ]],
    ['Cassandra node by node: the sidecars\' probes beside the service\'s pool', [
      (x) => panel('state-timeline', 'Answers as coordinator (the sidecars\' probes)', 'The share of sidecars whose last probe of the node succeeded.', 'percentunit',
        [{ expr: `avg by (address) (sessionstore_sidecar_cassandra_node_up{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('timeseries', 'The service\'s pool: connections per node', 'Established connections from the services\' drivers to each node, summed over pods. 0 for a node that answers: a stale pool.', 'short',
        [{ expr: `sum by (address) (sessionstore_sidecar_service_pool_connections{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('state-timeline', 'Coordinator achieves LOCAL_QUORUM', 'The share of sidecars whose LOCAL_QUORUM canary, coordinated by the node, succeeded. One node at 0 while others are at 1 is T327954.', 'percentunit',
        [{ expr: `avg by (address) (sessionstore_sidecar_coordinator_can_achieve_local_quorum{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('state-timeline', 'Circuit breakers', 'Each coordinator\'s breaker, worst over sidecars: 0 closed, 1 half-open, 2 open.', 'short',
        [{ expr: `max by (address) (sessionstore_sidecar_coordinator_breaker_state{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('timeseries', 'Probe latency (p99)', 'Each probe query, per coordinator.', 's',
        [{ expr: `histogram_quantile(0.99, sum by (le, address) (${rate('sessionstore_sidecar_probe_duration_seconds_bucket')}))`, legend: '{{address}}' }], x),
      (x) => panel('state-timeline', 'LOCAL_QUORUM available', 'The share of sidecars that see enough local replicas and a successful canary. Below 50%: SessionStoreLocalQuorumUnavailable.', 'percentunit',
        [{ expr: `avg(sessionstore_sidecar_local_quorum_available{${job}})`, legend: 'local quorum' }], x),
    ]],
    ['Cassandra storage: each node\'s disk (2025-03-31: three weeks of growth, then full disks)', [
      (x) => panel('timeseries', 'Load against the disk', `Each node's live data, as its gossip says, and ${disk.fullFraction * 100}% of its data disk. SessionStoreCassandraDiskFillingUp pages when the last day's trend crosses the line within ${disk.pageHorizonDays} days.`, 'bytes',
        [{ expr: `max by (address) (sessionstore_sidecar_cassandra_node_load_bytes{${job}})`, legend: '{{address}}' },
          { expr: `max by (address) (sessionstore_sidecar_cassandra_node_disk_capacity_bytes{${job}}) * ${disk.fullFraction}`, legend: `{{address}}: ${disk.fullFraction * 100}% of its disk` }], x),
      (x) => panel('timeseries', 'The session keyspace, node by node', 'Bytes the session keyspace\'s tables take on each node (system_views.disk_usage). Sessions expire: a steady day is a sawtooth, a climb is data outliving its TTL.', 'bytes',
        [{ expr: `max by (address) (sessionstore_sidecar_cassandra_node_keyspace_bytes{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('state-timeline', 'Disk usage guardrail: STUFFED or FULL', 'Cassandra\'s own word on each node\'s disk: STUFFED past its warn threshold (a ticket), FULL past its fail threshold (writes refused; a page).', 'short',
        [{ expr: `max by (address, state) (sessionstore_sidecar_cassandra_node_disk_usage_state{${job}, state=~"stuffed|full"})`, legend: '{{address}} {{state}}' }], x),
    ]],
    ['The verdict and what the sidecars did', [
      (x) => panel('state-timeline', 'Divergence (service-side)', 'Pods on which a service-side rule holds: the service\'s view of Cassandra differs from reality.', 'short',
        [{ expr: `sum by (rule) (sessionstore_sidecar_view_divergence{${job}})`, legend: '{{rule}}' }], x),
      (x) => panel('state-timeline', 'Broken coordinators (Cassandra-side)', 'Nodes that answer but cannot coordinate LOCAL_QUORUM while others can: no restart of the service cures this.', 'percentunit',
        [{ expr: `avg by (address) (sessionstore_sidecar_broken_coordinator{${job}})`, legend: '{{address}}' }], x),
      (x) => panel('timeseries', 'Graceful restarts', 'Restarts of the service\'s pool by the rule that asked and how they ended, over 10 minutes.', 'short',
        [{ expr: `sum by (rule, result) (increase(sessionstore_sidecar_pool_restarts_total{${job}}[10m]))`, legend: '{{rule}}: {{result}}' },
          { expr: `sum(sessionstore_sidecar_restart_in_progress{${job}})`, legend: 'in progress' }], x),
      (x) => panel('state-timeline', 'Restarts held back', 'Pods on which a needed restart is held back, by reason. not_cured and budget_exhausted need a human.', 'short',
        [{ expr: `sum by (reason) (sessionstore_sidecar_remediation_suppressed{${job}})`, legend: '{{reason}}' }], x),
      (x) => panel('timeseries', 'Retries of storage errors', 'The service\'s storage errors retried on another coordinator, and those not retried, by why.', 'reqps',
        [{ expr: `sum by (outcome) (${rate('sessionstore_sidecar_retries_total')})`, legend: 'retried: {{outcome}}' },
          { expr: `sum by (reason) (${rate('sessionstore_sidecar_retries_skipped_total')})`, legend: 'not retried: {{reason}}' }], x),
      (x) => panel('timeseries', 'Memory', 'Each sidecar\'s resident memory.', 'bytes',
        [{ expr: `sessionstore_sidecar_process_resident_memory_bytes{${job}}`, legend: '{{instance}}' }], x),
    ]],
  );
  return {
    uid: 'sessionstore-sidecar',
    title: 'Session store sidecar',
    description: `The session store as MediaWiki sees it, the Cassandra cluster as the sidecars and the service see it, and what the sidecars did. Alerts: ${alerts.map((a) => a.alert).join(', ')}.`,
    tags: ['sessionstore', 'kask', 'cassandra'],
    editable: false,
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    graphTooltip: DashboardCursorSync.Crosshair,
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus' },
        { name: 'job', label: 'Job', type: 'query', datasource, query: 'label_values(sessionstore_sidecar_build_info, job)', current: { text: sidecarJob, value: sidecarJob }, refresh: VariableRefresh.onDashboardLoad },
      ],
    },
    panels,
  };
}

/** Every PromQL expression of the dashboard, as Prometheus receives it once Grafana has filled in the variables. */
export function dashboardQueries(variables: { job: string; rateInterval: string }): string[] {
  return (dashboard().panels ?? []).flatMap((p) => ('targets' in p ? p.targets ?? [] : []))
    .map((target) => String(target.expr).replaceAll('$job', variables.job).replaceAll('$__rate_interval', variables.rateInterval));
}
