// The incidents, the split view and a normal day as metric shapes, at Wikimedia's 30 s
// scrape interval, turned into `promtool test rules` files: each scenario states which
// alerts fire, with which labels, from when until when; at every checkpoint every other
// alert must be silent. Two sidecars (pods a and b) stand for a data center's eight.
import { alerts, promDuration, runbookAnchor, runbookUrl, sidecarJob } from '../../k8s/monitoring/alerts.ts';

const step = 0.5; // minutes: the scrape interval
const pods = ['pod-a:9364', 'pod-b:9364'];
const [rebooted, second, third] = ['10.64.0.144', '10.64.16.85', '10.64.32.197'];
export const nodes = { rebooted, second, third };

/** A gauge's value at each minute it changes: [[0, 1], [5, 0]] is 1 until 5m, then 0. */
type Timeline = [minute: number, value: number][];
/** A counter's increase per scrape interval from each minute on. */
type Increments = [minute: number, perStep: number][];

interface Expectation {
  alert: string;
  labels: Record<string, string>;
  /** Fires at this minute (pending one `for:` earlier), and is resolved at `until`. */
  from: number;
  until?: number;
  /** The alert's value, for descriptions that quote it; checked only while the rate window is inside the plateau. */
  value?: number;
}

export interface Scenario {
  name: string;
  minutes: number;
  /** Series selector → gauge timeline or counter increments (keys ending in _total). */
  series: Series;
  fires: Expectation[];
}

const sel = (metric: string, labels: Record<string, string>): string =>
  `${metric}{${Object.entries({ job: sidecarJob, ...labels }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** The same series on every pod. */
function everyPod(metric: string, labels: Record<string, string>, values: Timeline | Increments): Record<string, Timeline | Increments> {
  return Object.fromEntries(pods.map((instance) => [sel(metric, { instance, ...labels }), values]));
}

function valuesOf(selector: string, points: Timeline | Increments, minutes: number): string {
  const counter = /_total\{/.test(selector);
  const out: number[] = [];
  let total = 0;
  for (let t = 0; t <= minutes; t += step) {
    const current = [...points].reverse().find(([at]) => at <= t)?.[1] ?? 0;
    if (counter) {
      if (t > 0) total += [...points].reverse().find(([at]) => at < t)?.[1] ?? 0;
      out.push(total);
    } else {
      out.push(current);
    }
  }
  return out.join(' ');
}

/** Prometheus's humanizePercentage, as far as these scenarios need it (%.4g of v*100). */
const percentage = (value: number): string => `${Number((value * 100).toPrecision(4))}%`;

/** The annotations Prometheus renders for an alert, as promtool expects them (the templates these scenarios need). */
export function annotations(alert: (typeof alerts)[number], labels: Record<string, string>, value: number | undefined): Record<string, string> {
  const render = (template: string): string => template
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '')
    .replace(/\{\{ \$value \| humanizePercentage \}\}/g, () => {
      if (value === undefined) throw new Error(`${alert.alert}: give the expectation a value, its description quotes it`);
      return percentage(value);
    });
  return { summary: render(alert.summary), description: render(alert.description), runbook_url: `${runbookUrl}#${runbookAnchor(alert.alert)}` };
}

/** A promtool test group: the series, and at each checkpoint what every alert must be. */
export function promtoolTest(scenario: Scenario): Record<string, unknown> {
  const plateauEnds = (e: Expectation): number => (e.until ?? Infinity) - 2.5;
  const checkpoints = new Set<number>();
  for (let t = 1; t <= scenario.minutes; t += 1) checkpoints.add(t);
  for (const e of scenario.fires) {
    checkpoints.add(e.from - step);
    checkpoints.add(e.from);
    if (e.until !== undefined) checkpoints.add(e.until);
  }
  // A quoted value is only predictable while the 2m rate window lies inside the plateau.
  const usable = [...checkpoints].filter((t) => t >= 0 && t <= scenario.minutes)
    .filter((t) => !scenario.fires.some((e) => e.value !== undefined && t > plateauEnds(e) && t < (e.until ?? Infinity)))
    .sort((a, b) => a - b);
  return {
    interval: '30s',
    name: scenario.name,
    input_series: Object.entries(scenario.series).map(([series, points]) => ({ series, values: valuesOf(series, points, scenario.minutes) })),
    alert_rule_test: usable.flatMap((t) => alerts.map((alert) => ({
      eval_time: promDuration(t * 60),
      alertname: alert.alert,
      exp_alerts: scenario.fires.filter((e) => e.alert === alert.alert && e.from <= t && t < (e.until ?? Infinity)).map((e) => {
        const labels = { ...e.labels, severity: alert.severity };
        return { exp_labels: labels, exp_annotations: annotations(alert, labels, e.value) };
      }),
    }))),
  };
}

// Traffic: 10 requests a second per pod (300 per scrape interval).
const perStep = 300;
function traffic(errorsFrom: number, errorsUntil: number, errorShare: number, code = '500'): Record<string, Increments> {
  const errors = Math.round(perStep * errorShare);
  return {
    ...everyPod('sessionstore_sidecar_http_requests_total', { method: 'GET', code: '200' }, [[0, perStep], [errorsFrom, perStep - errors], [errorsUntil, perStep]]),
    ...everyPod('sessionstore_sidecar_http_requests_total', { method: 'GET', code }, [[0, 0], [errorsFrom, errors], [errorsUntil, 0]]),
  };
}

/** Deletes, `share` of the requests on top of `traffic`'s, all failing (EACH_QUORUM) from `failFrom` until `failUntil`. */
function deletes(failFrom: number, failUntil: number, share: number): Record<string, Increments> {
  const count = Math.round(perStep * share);
  return {
    ...everyPod('sessionstore_sidecar_http_requests_total', { method: 'DELETE', code: '204' }, [[0, count], [failFrom, 0], [failUntil, count]]),
    ...everyPod('sessionstore_sidecar_http_requests_total', { method: 'DELETE', code: '500' }, [[0, 0], [failFrom, count], [failUntil, 0]]),
  };
}

type Series = Record<string, Timeline | Increments>;
const merge = (parts: Series[]): Series => Object.fromEntries(parts.flatMap((p) => Object.entries(p)));

/** A node's cassandra_node_up on every pod, with its data center as the sidecars label it (eqiad's nodes are 10.64.*, codfw's 10.192.*). */
function nodeUp(address: string, values: Timeline): Series {
  return everyPod('sessionstore_sidecar_cassandra_node_up', { address, dc: address.startsWith('10.192.') ? 'codfw' : 'eqiad' }, values);
}

/** What every pod exports on a quiet day; scenarios override what they change. */
function quietDay(): Series {
  return merge([
    Object.fromEntries(pods.map((instance) => [`up{job="${sidecarJob}",instance="${instance}"}`, [[0, 1]] as Timeline])),
    everyPod('sessionstore_sidecar_local_quorum_available', {}, [[0, 1]]),
    ...[rebooted, second, third].flatMap((address) => [
      nodeUp(address, [[0, 1]]),
      everyPod('sessionstore_sidecar_broken_coordinator', { address }, [[0, 0]]),
      everyPod('sessionstore_sidecar_service_pool_connections', { address }, [[0, 2]]),
    ]),
    ...['stale_pool', 'false_unavailability'].map((rule) => everyPod('sessionstore_sidecar_view_divergence', { rule }, [[0, 0]])),
    everyPod('sessionstore_sidecar_restart_in_progress', {}, [[0, 0]]),
    ...['lease_held', 'not_cured', 'budget_exhausted', 'disabled', 'backoff'].map((reason) => everyPod('sessionstore_sidecar_remediation_suppressed', { reason }, [[0, 0]])),
    ...['restarted', 'not_cured', 'unhealthy', 'failed'].map((result) => everyPod('sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result }, [[0, 0]])),
    ...['cassandra.username_file', 'cassandra.password_file', 'admin.token_file'].map((setting) => everyPod('sessionstore_sidecar_config_lacking', { setting }, [[0, 0]])),
    traffic(0, 0, 0),
  ]);
}

const on = (instance: string, metric: string, labels: Record<string, string>, values: Timeline | Increments): Series =>
  ({ [sel(metric, { instance, ...labels })]: values });
const [a, b] = pods as [string, string];
const job = { job: sidecarJob };

export const scenarios: Scenario[] = [
  {
    // 20:50 reboot, 20:54 Cassandra back, 16 minutes of Unavailable from it as coordinator: a third of requests failed.
    name: '2023-01-24 as it happened (T327954): a rebooted node coordinates before it sees its peers; no retries',
    minutes: 26,
    series: {
      ...quietDay(),
      ...nodeUp(rebooted, [[0, 1], [1, 0], [5, 1]]),
      ...everyPod('sessionstore_sidecar_broken_coordinator', { address: rebooted }, [[0, 0], [5, 1], [21, 0]]),
      ...traffic(5, 21, 1 / 3),
    },
    fires: [
      { alert: 'SessionStoreCoordinatorCannotAchieveLocalQuorum', labels: { ...job, address: rebooted }, from: 6, until: 21 },
      { alert: 'SessionStoreErrorRateHigh', labels: job, from: 7.5, until: 23, value: 1 / 3 },
    ],
  },
  {
    name: '2023-01-24 with the sidecars: retries on other coordinators, so no request fails; the node is still named',
    minutes: 26,
    series: {
      ...quietDay(),
      ...nodeUp(rebooted, [[0, 1], [1, 0], [5, 1]]),
      ...everyPod('sessionstore_sidecar_broken_coordinator', { address: rebooted }, [[0, 0], [5, 1], [21, 0]]),
    },
    fires: [{ alert: 'SessionStoreCoordinatorCannotAchieveLocalQuorum', labels: { ...job, address: rebooted }, from: 6, until: 21 }],
  },
  {
    // 12:25 the reimaged node is back and every pod's driver ignores it; 13 minutes of errors until it was stopped.
    name: '2022-09-15 as it happened: the service\'s pool never takes the node back; remediation disabled',
    minutes: 20,
    series: {
      ...quietDay(),
      ...nodeUp(rebooted, [[0, 0], [2, 1], [15, 0]]),
      ...everyPod('sessionstore_sidecar_service_pool_connections', { address: rebooted }, [[0, 0]]),
      ...traffic(2, 15, 0.3),
      ...everyPod('sessionstore_sidecar_view_divergence', { rule: 'false_unavailability' }, [[0, 0], [2.5, 1], [15, 0]]),
      ...everyPod('sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [3.5, 1], [15, 0]]),
      ...everyPod('sessionstore_sidecar_remediation_suppressed', { reason: 'disabled' }, [[0, 0], [2.5, 1], [15, 0]]),
    },
    fires: [
      { alert: 'SessionStoreErrorRateHigh', labels: job, from: 4.5, until: 17, value: 0.3 },
      ...pods.map((instance) => ({ alert: 'SessionStoreViewDivergence', labels: { ...job, instance, rule: 'false_unavailability' }, from: 4.5, until: 15 })),
      ...pods.map((instance) => ({ alert: 'SessionStoreViewDivergence', labels: { ...job, instance, rule: 'stale_pool' }, from: 5.5, until: 15 })),
    ],
  },
  {
    name: '2022-09-15 with the sidecars acting: half a minute of errors, one graceful restart per pod (one at a time), cured: no page',
    minutes: 20,
    series: {
      ...quietDay(),
      ...nodeUp(rebooted, [[0, 0], [2, 1]]),
      ...on(a, 'sessionstore_sidecar_service_pool_connections', { address: rebooted }, [[0, 0], [3, 2]]),
      ...on(b, 'sessionstore_sidecar_service_pool_connections', { address: rebooted }, [[0, 0], [3.5, 2]]),
      ...traffic(2, 2.5, 0.3),
      ...everyPod('sessionstore_sidecar_view_divergence', { rule: 'false_unavailability' }, [[0, 0], [2.5, 1], [3, 0]]),
      ...on(b, 'sessionstore_sidecar_view_divergence', { rule: 'false_unavailability' }, [[0, 0], [2.5, 1], [3.5, 0]]),
      ...on(a, 'sessionstore_sidecar_restart_in_progress', {}, [[0, 0], [2.5, 1], [3, 0]]),
      ...on(b, 'sessionstore_sidecar_remediation_suppressed', { reason: 'lease_held' }, [[0, 0], [2.5, 1], [3, 0]]),
      ...on(b, 'sessionstore_sidecar_restart_in_progress', {}, [[0, 0], [3, 1], [3.5, 0]]),
      ...on(a, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }, [[0, 0], [3, 1], [3.5, 0]]),
      ...on(b, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }, [[0, 0], [3.5, 1], [4, 0]]),
    },
    fires: [],
  },
  {
    name: 'a normal day: a planned Cassandra reboot the service rides out, a sidecar rollout, a stale pool cured',
    minutes: 40,
    series: {
      ...quietDay(),
      // The reboot: 4 minutes down; back, it coordinates before it sees its peers for one scrape; the pools take it back within a minute.
      ...nodeUp(third, [[0, 1], [5, 0], [9, 1]]),
      ...everyPod('sessionstore_sidecar_broken_coordinator', { address: third }, [[0, 0], [9, 1], [9.5, 0]]),
      ...everyPod('sessionstore_sidecar_service_pool_connections', { address: third }, [[0, 2], [5, 0], [10, 2]]),
      // Its shutdown fails the requests it was coordinating: 1% for one scrape.
      ...traffic(5, 5.5, 0.01),
      // Pod b's sidecar is rolled out: a minute without scrapes.
      [`up{job="${sidecarJob}",instance="${b}"}`]: [[0, 1], [20, 0], [21, 1]],
      // A stale pool on both pods, cured one after the other.
      ...everyPod('sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [30, 1], [31, 0]]),
      ...on(b, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [30, 1], [32, 0]]),
      ...on(a, 'sessionstore_sidecar_restart_in_progress', {}, [[0, 0], [30, 1], [31, 0]]),
      ...on(b, 'sessionstore_sidecar_remediation_suppressed', { reason: 'lease_held' }, [[0, 0], [30, 1], [31, 0]]),
      ...on(b, 'sessionstore_sidecar_restart_in_progress', {}, [[0, 0], [31, 1], [32, 0]]),
      ...on(a, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }, [[0, 0], [31, 1], [31.5, 0]]),
      ...on(b, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }, [[0, 0], [32, 1], [32.5, 0]]),
    },
    fires: [],
  },
  {
    name: 'two nodes down for 10 minutes: every request fails, and only the quorum alert pages',
    minutes: 25,
    series: {
      ...quietDay(),
      ...nodeUp(second, [[0, 1], [5, 0], [15, 1]]),
      ...nodeUp(third, [[0, 1], [5, 0], [15, 1]]),
      ...everyPod('sessionstore_sidecar_local_quorum_available', {}, [[0, 1], [5.5, 0], [15.5, 1]]),
      ...traffic(5, 15, 1, '503'),
    },
    fires: [{ alert: 'SessionStoreLocalQuorumUnavailable', labels: job, from: 6.5, until: 15.5, value: 0 }],
  },
  {
    // The local data center is eqiad; codfw, the other, loses two of its three nodes for 12 minutes.
    name: 'the other data center without quorum for 12 minutes: deletes fail here (8% of requests), reads and writes do not; a ticket naming it, no error page',
    minutes: 25,
    series: {
      ...quietDay(),
      ...everyPod('sessionstore_sidecar_data_center_quorum_available', { dc: 'eqiad' }, [[0, 1]]),
      ...everyPod('sessionstore_sidecar_data_center_quorum_available', { dc: 'codfw' }, [[0, 1], [5, 0], [17, 1]]),
      ...merge(['10.192.0.10', '10.192.16.11'].map((address) => nodeUp(address, [[0, 1], [5, 0], [17, 1]]))),
      ...deletes(5, 17, 0.08),
    },
    fires: [{ alert: 'SessionStoreDataCenterQuorumUnavailable', labels: { ...job, dc: 'codfw' }, from: 10, until: 18 }],
  },
  {
    name: 'a node\'s disk past the guardrail\'s failure threshold for 10 minutes: every coordinator refuses the writes it holds (40% of requests), and only the full-disk page, naming the node, pages',
    minutes: 25,
    series: {
      ...quietDay(),
      ...everyPod('sessionstore_sidecar_cassandra_node_disk_usage_state', { address: third, state: 'full' }, [[0, 0], [5, 1], [15, 0]]),
      ...traffic(5, 15, 0.4),
    },
    fires: [{ alert: 'SessionStoreCassandraDiskFull', labels: { ...job, dc: 'eqiad', address: third }, from: 7, until: 15 }],
  },
  {
    name: 'a restart that did not cure, and one that failed: a human is paged, once each',
    minutes: 25,
    series: {
      ...quietDay(),
      ...on(a, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [2, 1], [20, 0]]),
      ...on(a, 'sessionstore_sidecar_restart_in_progress', {}, [[0, 0], [2, 1], [2.5, 0]]),
      ...on(a, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'not_cured' }, [[0, 0], [2.5, 1], [3, 0]]),
      ...on(a, 'sessionstore_sidecar_remediation_suppressed', { reason: 'not_cured' }, [[0, 0], [2.5, 1], [20, 0]]),
      ...on(b, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'failed' }, [[0, 0], [10, 1], [10.5, 0]]),
    },
    fires: [
      { alert: 'SessionStoreRemediationNeedsHuman', labels: { ...job, instance: a, reason: 'not_cured' }, from: 3.5, until: 20 },
      { alert: 'SessionStoreRestartFailed', labels: { ...job, instance: b, rule: 'stale_pool', result: 'failed' }, from: 11.5, until: 20.5 },
    ],
  },
  {
    name: 'the hourly restart budget spent while the pool is still stale: a human is paged',
    minutes: 15,
    series: {
      ...quietDay(),
      ...on(a, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [2, 1], [12, 0]]),
      ...on(a, 'sessionstore_sidecar_remediation_suppressed', { reason: 'budget_exhausted' }, [[0, 0], [2, 1], [12, 0]]),
    },
    fires: [{ alert: 'SessionStoreRemediationNeedsHuman', labels: { ...job, instance: a, reason: 'budget_exhausted' }, from: 3, until: 12 }],
  },
  {
    name: 'remediation paused by an operator while the pool is stale: the divergence pages',
    minutes: 10,
    series: {
      ...quietDay(),
      ...on(a, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }, [[0, 0], [2, 1], [8, 0]]),
    },
    fires: [{ alert: 'SessionStoreViewDivergence', labels: { ...job, instance: a, rule: 'stale_pool' }, from: 4, until: 8 }],
  },
  {
    name: 'every sidecar gone: tickets for each pod, and a page because nothing can alert any more',
    minutes: 12,
    series: {
      ...quietDay(),
      ...Object.fromEntries(pods.map((instance) => [`up{job="${sidecarJob}",instance="${instance}"}`, [[0, 1], [2, 0]] as Timeline])),
    },
    fires: [
      { alert: 'SessionStoreSidecarsAbsent', labels: {}, from: 4 },
      ...pods.map((instance) => ({ alert: 'SessionStoreSidecarDown', labels: { ...job, instance }, from: 7 })),
    ],
  },
  {
    name: 'a Cassandra node down for longer than a reboot: a ticket after 15 minutes',
    minutes: 25,
    series: {
      ...quietDay(),
      ...nodeUp(third, [[0, 1], [2, 0], [22, 1]]),
    },
    fires: [{ alert: 'SessionStoreCassandraNodeDown', labels: { ...job, dc: 'eqiad', address: third }, from: 17, until: 22 }],
  },
  {
    // The local data center is eqiad: its sidecars probe codfw's nodes too.
    name: 'a node of the other data center down for 20 minutes: the ticket names that data center',
    minutes: 25,
    series: {
      ...quietDay(),
      ...nodeUp('10.192.0.10', [[0, 1], [2, 0], [22, 1]]),
    },
    fires: [{ alert: 'SessionStoreCassandraNodeDown', labels: { ...job, dc: 'codfw', address: '10.192.0.10' }, from: 17, until: 22 }],
  },
  {
    name: 'a rollout before the Cassandra Secret exists: every sidecar is refused by every node; a ticket, and no page about Cassandra',
    minutes: 20,
    series: {
      ...quietDay(),
      ...everyPod('sessionstore_sidecar_config_lacking', { setting: 'cassandra.password_file' }, [[0, 0], [2, 1], [18, 0]]),
      ...everyPod('sessionstore_sidecar_local_quorum_available', {}, [[0, 1], [2, 0], [18, 1]]),
      ...merge([rebooted, second, third].map((address) => nodeUp(address, [[0, 1], [2, 0], [18, 1]]))),
    },
    fires: pods.map((instance) => ({ alert: 'SessionStoreSidecarLacksSecret', labels: { ...job, instance, setting: 'cassandra.password_file' }, from: 12, until: 18 })),
  },
  {
    name: 'a rollout before the sidecar\'s ConfigMap exists: plain proxies that export nothing about Cassandra; a ticket of its own, not the Secret\'s, and no page',
    minutes: 20,
    series: {
      ...Object.fromEntries(pods.map((instance) => [`up{job="${sidecarJob}",instance="${instance}"}`, [[0, 1]] as Timeline])),
      ...everyPod('sessionstore_sidecar_config_lacking', { setting: 'config' }, [[0, 1], [18, 0]]),
      ...everyPod('sessionstore_sidecar_config_lacking', { setting: 'cassandra.password_file' }, [[0, 0]]),
      ...everyPod('sessionstore_sidecar_http_requests_total', { code: '200' }, [[0, 600]]),
    },
    fires: pods.map((instance) => ({ alert: 'SessionStoreSidecarWithoutConfiguration', labels: { ...job, instance }, from: 10, until: 18 })),
  },
  {
    name: 'a rollout while the cluster\'s DNS does not answer: the sidecars\' only contact point does not resolve, so they know no node and export no LOCAL_QUORUM gauge; a ticket naming the name, no page',
    minutes: 20,
    series: {
      ...Object.fromEntries(pods.map((instance) => [`up{job="${sidecarJob}",instance="${instance}"}`, [[0, 1]] as Timeline])),
      ...everyPod('sessionstore_sidecar_contact_point_resolved', { contact_point: 'cassandra-sessionstore.eqiad.svc' }, [[0, 0], [18, 1]]),
      ...everyPod('sessionstore_sidecar_http_requests_total', { code: '200' }, [[0, 600]]),
    },
    fires: pods.map((instance) => ({ alert: 'SessionStoreContactPointUnresolved', labels: { ...job, instance, contact_point: 'cassandra-sessionstore.eqiad.svc' }, from: 10, until: 18 })),
  },
];
