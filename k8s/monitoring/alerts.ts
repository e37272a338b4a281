// The sidecar's alerts: the one source of k8s/monitoring/sessionstore-sidecar.rules.yaml
// (a plain Prometheus rules file) and k8s/monitoring/prometheusrule.yaml (the same
// groups for the Prometheus Operator). `npm run generate` writes both; a test fails
// when either differs from this file.
//
// Conventions (monitoring-mixins): CamelCase names; `severity` is `page` (a human must
// act now, and can) or `ticket` (act within working hours); `for:` rides out at least
// one bad scrape at a 30 s interval; every alert links its section of docs/runbook.md.
// Rates are over 2m: four samples at Wikimedia's 30 s scrape interval.

/** The scrape job of the sidecars' admin ports (k8s/monitoring/scrape-config.yaml). */
export const sidecarJob = 'sessionstore-sidecar';

/** Where docs/runbook.md is published; each alert links its own section. */
export const runbookUrl = 'https://gitlab.wikimedia.org/repos/sre/sessionstore-sidecar/-/blob/main/docs/runbook.md';

export interface AlertRule {
  alert: string;
  expr: string;
  /** Seconds the condition must hold before the alert fires. */
  forSeconds: number;
  severity: 'page' | 'ticket';
  summary: string;
  description: string;
}

// Sidecars that lack their Cassandra credentials (a Secret not mounted) see every node
// refuse them: they say nothing about Cassandra, and have their own alert.
const credentialed = (selector: string): string =>
  `${selector} unless on (job, instance) (max by (job, instance) (sessionstore_sidecar_config_lacking{job="${sidecarJob}", setting=~"cassandra[.].+"}) == 1)`;
// A majority of the data center's sidecars, so that one sidecar with a problem of its
// own (its pod's network) neither pages nor hides a page.
const quorumLost = `avg by (job) (${credentialed(`sessionstore_sidecar_local_quorum_available{job="${sidecarJob}"}`)}) < 0.5`;
// The errors of a quorum loss stay in a 2m rate for 2 minutes after it ends: the error
// alert keeps quiet for 5 minutes after the quorum alert fired, so that one outage is one
// page. Keyed on the alert having fired, whose `for:` rides out a probe's blip, not on
// any one sample of the gauge: a canary that timed out once must not hide a page.
const quorumAlertFiredRecently = `max by (job) (max_over_time(ALERTS{alertname="SessionStoreLocalQuorumUnavailable", alertstate="firing", job="${sidecarJob}"}[5m]))`;
// A data center the keyspace is replicated to (the local one, or another) without a
// quorum of reachable replicas, by a majority of the sidecars: Kask's deletes, at
// EACH_QUORUM, fail there and everywhere else.
const dataCenterQuorumLost = (range: string): string =>
  `avg by (job, dc) (${credentialed(`min_over_time(sessionstore_sidecar_data_center_quorum_available{job="${sidecarJob}"}[${range}])`)}) < 0.5`;
const serverErrors = (matchers: string): string => `sum by (job) (rate(sessionstore_sidecar_http_requests_total{job="${sidecarJob}", code=~"5.."${matchers}}[2m]))`;

// A node's disk (the 2025-03-31 outage: three weeks of growth nobody saw, then full
// disks, nodes down in both data centers, and every session wiped to recover). Cassandra
// tells a client its load, not its free space: the load, extrapolated, against the disk's
// size. A node counts as full at 90%: compaction writes a table's new files before it
// deletes the old ones, and needs the room. The horizons are SREs' choice: the page
// leaves days to add disk or shed data, the ticket weeks.
export const disk = { fullFraction: 0.9, pageHorizonDays: 3, pageWindowDays: 1, ticketHorizonDays: 14, ticketWindowDays: 3 } as const;
const day = 86_400;
const perNode = (metric: string, matchers = ''): string => `max by (job, address) (${metric}{job="${sidecarJob}"${matchers}})`;
const fullAt = `${perNode('sessionstore_sidecar_cassandra_node_disk_capacity_bytes')} * ${disk.fullFraction}`;
// The trend is taken from one recorded series per node across its sidecars, so that a
// rollout, which starts every pod's series anew, leaves it whole; and only once that
// series is as old as its window: a regression over an hour says nothing about a fortnight.
const nodeLoad = 'address:sessionstore_sidecar_cassandra_node_load_bytes:max';
export const recordingRules: { record: string; expr: string }[] = [
  { record: nodeLoad, expr: perNode('sessionstore_sidecar_cassandra_node_load_bytes') },
];
const guardrailSays = (state: string): string => `${perNode('sessionstore_sidecar_cassandra_node_disk_usage_state', `, state="${state}"`)} == 1`;
const diskFull = `${perNode('sessionstore_sidecar_cassandra_node_load_bytes')} >= ${fullAt}
or ${guardrailSays('full')}`;
// The disk series name a node by its address; its data center comes from its
// cassandra_node_up, which each sidecar exports, with `dc`, for every node it knows
// (topk: one data center per node, should two sidecars ever disagree for a scrape).
const withDataCenter = (expr: string): string => `(${expr})
* on (job, address) group_left (dc) topk by (job, address) (1, 0 * max by (job, address, dc) (sessionstore_sidecar_cassandra_node_up{job="${sidecarJob}", dc!="unknown"}) + 1)`;
/** The disk alerts' trends, with a day `daySeconds` long (the lab replays weeks in minutes). */
function diskTrends(daySeconds: number): { fillingUp: string; growing: string } {
  const predictedLoad = (windowDays: number, horizonDays: number): string => {
    const window = promDuration(windowDays * daySeconds);
    return `(predict_linear(${nodeLoad}{job="${sidecarJob}"}[${window}], ${Math.round(horizonDays * daySeconds)})
and on (job, address) (${nodeLoad}{job="${sidecarJob}"} offset ${window}))`;
  };
  return {
    fillingUp: `${predictedLoad(disk.pageWindowDays, disk.pageHorizonDays)} >= ${fullAt}
unless on (job, address) (${diskFull})`,
    growing: `${predictedLoad(disk.ticketWindowDays, disk.ticketHorizonDays)} >= ${fullAt}
or ${guardrailSays('stuffed')}`,
  };
}
// A node whose guardrail says FULL makes every coordinator refuse the writes it is a
// replica for: the errors that follow are the disk's, and its page says so.
const diskFullFiredRecently = `max by (job) (max_over_time(ALERTS{alertname="SessionStoreCassandraDiskFull", alertstate="firing", job="${sidecarJob}"}[5m]))`;

/**
 * The alerts, with the disk alerts' time at `diskScale`: their windows, horizons and
 * `for:` together, so that the lab can replay weeks of growth in minutes (1/14,400 makes
 * a day 6 s). Production uses 1.
 */
export function alertRules(diskScale = 1): AlertRule[] {
  const trends = diskTrends(day * diskScale);
  const diskFor = (seconds: number): number => seconds * diskScale;
  return [
  {
    alert: 'SessionStoreErrorRateHigh',
    // Deletes that failed while some data center lacked quorum (over the rate's window)
    // are that data center's, and SessionStoreDataCenterQuorumUnavailable says so.
    expr: `(
  (
    ${serverErrors('')}
  unless on (job) (${dataCenterQuorumLost('2m')})
  or
    ${serverErrors(', method!="DELETE"')}
  )
/
  sum by (job) (rate(sessionstore_sidecar_http_requests_total{job="${sidecarJob}"}[2m]))
) > 0.05
and on (job) sum by (job) (rate(sessionstore_sidecar_http_requests_total{job="${sidecarJob}"}[2m])) > 1
unless on (job) (${quorumAlertFiredRecently})
unless on (job) (${diskFullFiredRecently})`,
    forSeconds: 120,
    severity: 'page',
    summary: 'MediaWiki sees session store errors',
    description: '{{ $value | humanizePercentage }} of session store requests through the sidecars ({{ $labels.job }}) were answered with a 5xx over the last 2 minutes: logins and edits are failing. Cassandra still has LOCAL_QUORUM (that has its own alert), so the fault is the service, a coordinator, or the path. (While a data center lacks quorum, the deletes that fail for it are not counted here.)',
  },
  {
    alert: 'SessionStoreDataCenterQuorumUnavailable',
    expr: `${dataCenterQuorumLost('1m')}
unless on (job) (${quorumLost})`,
    forSeconds: 300,
    severity: 'ticket',
    summary: 'Data center {{ $labels.dc }} has no quorum of session store replicas, as the sidecars of {{ $labels.job }} see it: every delete fails',
    description: 'Most sidecars of {{ $labels.job }} reach too few Cassandra replicas in data center {{ $labels.dc }} for a quorum there. Reads and writes (LOCAL_QUORUM) succeed here; deletes (EACH_QUORUM) fail everywhere, so a session ended by a logout stays readable until its TTL. The data center\'s own sidecars page for it (SessionStoreLocalQuorumUnavailable) if they still run; if nothing pages there, the data center itself is gone: depool it. /status says which nodes the sidecars reach (cluster.dataCenters). No restart of any service helps; the sidecars do none.',
  },
  {
    alert: 'SessionStoreCoordinatorCannotAchieveLocalQuorum',
    expr: `avg by (job, address) (sessionstore_sidecar_broken_coordinator{job="${sidecarJob}"}) > 0.5`,
    forSeconds: 60,
    severity: 'page',
    summary: 'Cassandra node {{ $labels.address }} cannot coordinate LOCAL_QUORUM while the others can (T327954)',
    description: 'Cassandra node {{ $labels.address }} answers CQL, but every LOCAL_QUORUM request it coordinates fails with Unavailable ("Cannot achieve consistency level LOCAL_QUORUM") while the other nodes succeed: it does not see its peers (the 2023-01-24 root cause, T327954). The sidecars retry such requests on other coordinators and will not restart the session service, which cannot cure this. Take the node out of client rotation (nodetool disablebinary) or restart it.',
  },
  {
    alert: 'SessionStoreViewDivergence',
    // Not while a restart is under way or waiting its turn for the fleet lease, and not
    // when SessionStoreRemediationNeedsHuman already pages for it.
    expr: `max by (job, instance, rule) (sessionstore_sidecar_view_divergence{job="${sidecarJob}"}) == 1
unless on (job, instance) (
  max by (job, instance) (sessionstore_sidecar_restart_in_progress{job="${sidecarJob}"}) == 1
  or max by (job, instance) (sessionstore_sidecar_remediation_suppressed{job="${sidecarJob}", reason=~"lease_held|not_cured|budget_exhausted"}) == 1
)`,
    forSeconds: 120,
    severity: 'page',
    summary: 'The session service on {{ $labels.instance }} holds a wrong view of Cassandra, and it is not being cured',
    description: 'The sidecar on {{ $labels.instance }} has found {{ $labels.rule }} (stale_pool: the service\'s driver holds no connection to a node that is healthy; false_unavailability: the service fails requests while Cassandra achieves LOCAL_QUORUM), and for 2 minutes no graceful restart has been under way or waiting its turn. /status says what holds it back (remediation.dryRun: the sidecar only says what it would do; remediation.suppressed: paused, disabled, backoff, no_local_quorum).',
  },
  {
    alert: 'SessionStoreRestartFailed',
    expr: `increase(sessionstore_sidecar_pool_restarts_total{job="${sidecarJob}", result=~"failed|unhealthy"}[10m]) > 0`,
    forSeconds: 60,
    severity: 'page',
    summary: 'A graceful restart of the session service on {{ $labels.instance }} failed',
    description: 'A graceful restart asked by {{ $labels.rule }} on {{ $labels.instance }} ended {{ $labels.result }} (failed: the restart itself failed; unhealthy: the service did not answer /healthz afterwards). The pod was repooled only if its service answered; check the service\'s container.',
  },
  {
    alert: 'SessionStoreRemediationNeedsHuman',
    expr: `max by (job, instance, reason) (sessionstore_sidecar_remediation_suppressed{job="${sidecarJob}", reason=~"not_cured|budget_exhausted"}) == 1`,
    forSeconds: 60,
    severity: 'page',
    summary: 'The sidecar on {{ $labels.instance }} will not restart the session service again: {{ $labels.reason }}',
    description: 'A restart is needed on {{ $labels.instance }} but the sidecar holds it back ({{ $labels.reason }}: not_cured, a restart did not change the evidence and another would not either; budget_exhausted, the hourly restart budget is spent). /status gives the evidence and remediation.suppressed.why.',
  },
  {
    alert: 'SessionStoreLocalQuorumUnavailable',
    expr: quorumLost,
    forSeconds: 60,
    severity: 'page',
    summary: 'Cassandra cannot achieve LOCAL_QUORUM for the session store ({{ $labels.job }})',
    description: 'Most sidecars ({{ $value | humanizePercentage }} say it is available) find that not enough replicas of the local data center answer: every session read and write fails. No restart of the service can help; the sidecars do none. Depool the data center, and bring Cassandra nodes back.',
  },
  {
    alert: 'SessionStoreCassandraNodeDown',
    // By data center too: the sidecars probe the other data center's nodes as well, and a
    // ticket filed in eqiad about a codfw node must say so.
    expr: `avg by (job, dc, address) (${credentialed(`sessionstore_sidecar_cassandra_node_up{job="${sidecarJob}"}`)}) < 0.5`,
    forSeconds: 900,
    severity: 'ticket',
    summary: 'Cassandra node {{ $labels.address }} in data center {{ $labels.dc }} has not answered for 15 minutes',
    description: 'Most sidecars of {{ $labels.job }} cannot reach Cassandra node {{ $labels.address }} (data center {{ $labels.dc }}) as a coordinator. Its data center\'s quorum still holds with the other replicas, but one more node lost there would stop LOCAL_QUORUM in it (and every delete, at EACH_QUORUM, everywhere). Longer than a planned reboot takes.',
  },
  {
    alert: 'SessionStoreCassandraDiskFull',
    expr: withDataCenter(diskFull),
    forSeconds: diskFor(120),
    severity: 'page',
    summary: 'Cassandra node {{ $labels.address }} in data center {{ $labels.dc }} has a full disk',
    description: `Cassandra node {{ $labels.address }} holds live data past ${disk.fullFraction * 100}% of its data disk, or its disk usage guardrail says FULL and Cassandra refuses the writes it is a replica for. A node whose disk fills stops (disk_failure_policy), and with two of a data center's three down the session store is down: on 2025-03-31 storage was wiped to recover, and every session with it. Make room on the node (snapshots, compaction, TTL: see the runbook); never wipe its data.`,
  },
  {
    alert: 'SessionStoreCassandraDiskFillingUp',
    expr: withDataCenter(trends.fillingUp),
    forSeconds: diskFor(1800),
    severity: 'page',
    summary: `Cassandra node {{ $labels.address }} in data center {{ $labels.dc }} will have a full disk within ${disk.pageHorizonDays} days`,
    description: `At the rate its data grew over the last ${promDuration(disk.pageWindowDays * day)}, Cassandra node {{ $labels.address }} passes ${disk.fullFraction * 100}% of its data disk within ${disk.pageHorizonDays} days (its load, as its gossip says, extrapolated against sessionstore_sidecar_cassandra_node_disk_capacity_bytes). Find what grows before the disk fills: on 2025-03-31 three weeks of growth ended with full disks and every session wiped.`,
  },
  {
    alert: 'SessionStoreCassandraDiskGrowing',
    expr: withDataCenter(trends.growing),
    forSeconds: diskFor(3600),
    severity: 'ticket',
    summary: `Cassandra node {{ $labels.address }} in data center {{ $labels.dc }} will have a full disk within ${disk.ticketHorizonDays} days`,
    description: `At the rate its data grew over the last ${promDuration(disk.ticketWindowDays * day)}, Cassandra node {{ $labels.address }} passes ${disk.fullFraction * 100}% of its data disk within ${disk.ticketHorizonDays} days, or its disk usage guardrail says STUFFED (past its warn threshold). Nothing fails yet; find what grows (a TTL not applied, a compaction behind, snapshots kept) while there is time.`,
  },
  {
    alert: 'SessionStoreSidecarLacksSecret',
    expr: `max by (job, instance, setting) (sessionstore_sidecar_config_lacking{job="${sidecarJob}", setting!="config"}) == 1`,
    forSeconds: 600,
    severity: 'ticket',
    summary: 'The sidecar on {{ $labels.instance }} runs without {{ $labels.setting }}',
    description: 'The file of {{ $labels.setting }} was missing or unreadable when the sidecar on {{ $labels.instance }} started (its Secret is not mounted, or lacks the key). The pod serves: the sidecar proxies, but without Cassandra credentials it neither judges the cluster nor restarts the service (remediation_suppressed{reason="no_credentials"}), and without the admin token it refuses operator actions. Create the Secret (see docs/deployment.md), then restart the pod.',
  },
  {
    alert: 'SessionStoreSidecarWithoutConfiguration',
    expr: `max by (job, instance) (sessionstore_sidecar_config_lacking{job="${sidecarJob}", setting="config"}) == 1`,
    forSeconds: 600,
    severity: 'ticket',
    summary: 'The sidecar on {{ $labels.instance }} runs without its configuration: a plain proxy',
    description: 'The sidecar\'s configuration file was missing when the sidecar on {{ $labels.instance }} started (its ConfigMap does not exist). The pod serves: the sidecar proxies to the service with the ports inject gave it (--config-fallback), but it watches no Cassandra node, retries nothing and restarts nothing, so this pod is blind to every failure this sidecar exists for. Create the ConfigMap (see docs/deployment.md), then restart the pod.',
  },
  {
    alert: 'SessionStoreContactPointUnresolved',
    expr: `max by (job, instance, contact_point) (sessionstore_sidecar_contact_point_resolved{job="${sidecarJob}"}) == 0`,
    forSeconds: 600,
    severity: 'ticket',
    summary: 'The sidecar on {{ $labels.instance }} cannot look up Cassandra contact point {{ $labels.contact_point }}',
    description: 'The sidecar on {{ $labels.instance }} has failed to resolve {{ $labels.contact_point }} for 10 minutes, and looks it up again every resolve_interval_ms. The pod serves. If the name resolved before, the sidecar still probes the addresses it had; if it never did and it is the only contact point, the sidecar knows no Cassandra node: it judges nothing, restarts nothing, and leaves the LOCAL_QUORUM page to the sidecars that can see (it exports no sessionstore_sidecar_local_quorum_available). Check the name in the ConfigMap and the cluster\'s DNS (the headless Service of the Cassandra nodes).',
  },
  {
    alert: 'SessionStoreSidecarDown',
    expr: `up{job="${sidecarJob}"} == 0`,
    forSeconds: 300,
    severity: 'ticket',
    summary: 'The sidecar on {{ $labels.instance }} is not answering its scrapes',
    description: 'Prometheus has not scraped the sidecar\'s admin port on {{ $labels.instance }} for 5 minutes. Its pod is probably not ready (the kubelet restarts a sidecar whose /healthz fails); the other pods serve.',
  },
  {
    alert: 'SessionStoreSidecarsAbsent',
    expr: `absent(up{job="${sidecarJob}"} == 1)`,
    forSeconds: 120,
    severity: 'page',
    summary: 'No session store sidecar is being scraped',
    description: 'Prometheus scrapes no sidecar of job ' + sidecarJob + ': either every session store pod is down, or the scrape configuration lost them. Either way, nothing above can alert.',
  },
  ];
}

export const alerts: AlertRule[] = alertRules();

/** The anchor of an alert's section in docs/runbook.md (its heading is the alert's name). */
export const runbookAnchor = (alert: string): string => alert.toLowerCase();

/** Prometheus's duration syntax for a number of seconds: 3d, 2m, 90s as 1m30s. */
export function promDuration(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  const units = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const;
  const parts = units.flatMap(([unit, size]) => {
    const count = Math.floor(rest / size);
    rest -= count * size;
    return count > 0 ? [`${count}${unit}`] : [];
  });
  return parts.join('') || '0s';
}

/** The alerts about a node's disk, whose time scales as a whole (alertRules). */
export const diskAlertNames: readonly string[] = ['SessionStoreCassandraDiskFull', 'SessionStoreCassandraDiskFillingUp', 'SessionStoreCassandraDiskGrowing'];

/** How tests on the real cluster shorten time, where a scenario lasts seconds, not minutes or weeks. Production: 1 and 1. */
export interface RuleTimeScale {
  /** Every `for:` but the disk alerts' (0.05 makes 2m into 6s), nothing else. */
  for?: number;
  /** The disk alerts' windows, horizons and `for:` together (alertRules). */
  disk?: number;
}

/** The rule groups, as Prometheus reads them, at a time scale (production: none). */
export function ruleGroups({ for: forScale = 1, disk: diskScale = 1 }: RuleTimeScale = {}): { name: string; rules: Record<string, unknown>[] }[] {
  return [{
    name: 'sessionstore-sidecar',
    rules: alertRules(diskScale).map((a) => ({
      alert: a.alert,
      expr: a.expr,
      for: promDuration(a.forSeconds * (diskAlertNames.includes(a.alert) ? 1 : forScale)),
      labels: { severity: a.severity },
      annotations: { summary: a.summary, description: a.description, runbook_url: `${runbookUrl}#${runbookAnchor(a.alert)}` },
    })),
  }, {
    // What the alerts extrapolate, recorded; a group of its own, so that the alerts' group holds alerts only.
    name: 'sessionstore-sidecar-records',
    rules: recordingRules.map((r) => ({ ...r })),
  }];
}
