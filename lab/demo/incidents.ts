// The incidents, 2022 and 2023 each replayed on two fleets side by side over the one
// local cluster: a dry-run fleet (what happened: no retries, no restarts) and an acting
// fleet (the sidecars as shipped), under the same fault at the same moment, each with
// the same MediaWiki-like traffic through its own balancer.
//   2022: rolling maintenance (nodes 2, 3, then 1 go down and come back). The lab
//         service's driver never takes a node back (gocql #1582/#1678), so without a
//         restart its pool empties node by node until nothing can be served.
//   2023: node 1 reboots and coordinates before it hears its peers (T327954): a third
//         of the queries fail with Unavailable until the node is fixed. A restart
//         cannot help; retries on the other coordinators can.
//   2025: node 3's disk fills (2025-03-31): its data moves onto a small filesystem of
//         its own, and session writes fill it in minutes until the node takes no more:
//         its guardrail says FULL and every coordinator refuses the writes it holds a
//         replica of, or a flush finds no room first and the node stops
//         (disk_failure_policy: stop), whichever this machine's timing makes come
//         first (the guardrail is checked every second). Nothing can cure it from the
//         service's side, and in 2025 nothing said it was coming: one fleet, acting,
//         shows the disk alerts on the climb, time scaled so that a day lasts seconds,
//         and the sidecars naming the full disk, with no restart.
// With two data centers (--dcs 2), 2022 and 2023 run as production would meet them:
// the fault in dc1, dc1's two fleets as above, and a third, acting, in dc2 under the
// same traffic, whose sidecars must see the other data center's trouble for what it
// is (its deletes go through dc1 at EACH_QUORUM) and neither restart nor page.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertLife } from '../prometheus.ts';
import { disk } from '../../k8s/monitoring/alerts.ts';
import { dataBytes } from '../cluster/small-disk.ts';
import { flushNode, giveSmallDisk, heal, rebootIsolated, startNode, stopNode, takeBackSmallDisk, type NodeNumber } from '../cluster/cluster.ts';
import type { Cleanup } from '../cleanup.ts';
import { dataCenter, nodesIn, secondDataCenter, type DataCenterName } from '../cluster/layout.ts';
import { startFleet, type Fleet, type FleetMode } from '../fleet/fleet.ts';
import type { ServiceOptions } from '../session-service/harness.ts';
import type { ServiceExit } from '../session-service/supervisor.ts';
import { lostWrites, metricOf, restartsBy } from '../sidecar-process.ts';
import { sessionTraffic, type SecondOfTraffic, type TrafficResult } from '../traffic.ts';
import type { Progress } from '../progress.ts';
import { Timeline, type TimelineEvent } from './timeline.ts';

export type ScenarioId = '2022' | '2023' | '2025';

export interface DemoOptions {
  quick: boolean;
  /** Another Kask-compatible service instead of the lab's (see the demo's --help). */
  serviceCommand?: string;
  /** Requests per second to each fleet. */
  rate: number;
  /** 2: the cluster has dc2 too, and an acting fleet runs there beside dc1's (2022 and 2023 only). */
  dataCenters: 1 | 2;
}

export interface Phase { name: string; from: number; to: number }

/** What one fleet's sidecars and Prometheus said about the cluster and the service at the moment of detection. */
export interface DetectionView {
  at: number;
  pod: string;
  nodes: { address: string; reachable: boolean; canCoordinateLocalQuorum: boolean | null; canaryError: string | null; unheardPeers: string[] | null }[];
  servicePool: Record<string, number> | null;
}

export interface RunResult {
  fleet: string;
  mode: FleetMode;
  dataCenter: DataCenterName;
  perSecond: SecondOfTraffic[];
  sent: number;
  failed: number;
  failures: Record<string, number>;
  /** The same failures by the scenario's phase they fell in ("DELETE 500": 3). */
  failuresByPhase: Record<string, Record<string, number>>;
  /** Failures the fleet itself caused: the sidecars' own 503s, and connections the balancer could not place. */
  causedBySidecar: number;
  okPerSecond: { before: number; during: number; after: number };
  /** From the fault to the sidecars' diagnosis. */
  detectMs: number | null;
  /** From the fault until clients saw their last failure; null: still failing at the end. */
  healMs: number | null;
  /** Restarts of the services the sidecars carried out (their own counters). */
  restarts: number;
  /** Every exit of a service process, relative to the fault (ms), the sidecars' restarts among them (SIGTERM): others are the service's own. */
  serviceExits: (Omit<ServiceExit, 'at'> & { afterFaultMs: number })[];
  retries: number;
  alerts: (AlertLife & { productionFiringAt: number | null })[];
  view: DetectionView | null;
  lostWrites: number;
  acknowledgedWrites: number;
  /** 2025: the filling node's storage as the first pod's sidecar read it, every second of the climb. */
  disk: DiskClimb | null;
}

export interface DiskClimb {
  address: string;
  points: { at: number; loadBytes: number | null; capacityBytes: number | null; diskUsage: string | null; reachable: boolean }[];
}

export interface ScenarioResult {
  id: ScenarioId;
  title: string;
  dataCenters: 1 | 2;
  /** What the incident cost in production, to compare with. */
  incident: string;
  startedAt: number;
  endedAt: number;
  faultAt: number;
  faultEndAt: number;
  phases: Phase[];
  events: TimelineEvent[];
  runs: RunResult[];
}

/** Faster than production, so that a replay takes minutes (production: 75 s grace and gocql's 60 s ticker; gocql's own 10 s node-up delay stays). */
const service: ServiceOptions = { reconnectIntervalMs: 8000 };
// The depool propagation time stays production's 5 s: above the balancer's probe period
// and propagation (1 s + 1 s), and at least the proxy's keep-alive timeout.
const sidecar = {
  reconcile: { stale_grace_ms: 12_000, sustain_ms: 3000, interval_ms: 500 },
  remediation: { backoff_base_ms: 2000, healthy_timeout_ms: 30_000, drain_timeout_ms: 5000 },
  cassandra: { probe: { interval_ms: 1000, timeout_ms: 900 } },
};

/**
 * The rules' `for:` at a tenth: the replay's faults last tens of seconds, not minutes, and
 * the sidecars' own timings are shortened less than that (a 3 s sustain against 5 s), so
 * a smaller scale would fire alerts production would not. The disk alerts' time as a
 * whole at 1/21,600: a day of growth lasts 4 s, so that the climb below (about 80 s)
 * lasts three weeks, as in 2025, longer than the ticket's 14-day horizon (56 s): the
 * ticket comes when the node is 14 days from full, the page at 3 (12 s). A shorter
 * climb would begin inside both horizons and fire them together.
 */
const alertScale = { for: 0.1, disk: 4 / 86_400 };

/**
 * 2025: the node whose disk fills, the session writes per second that fill it (about
 * 0.3 MiB/s, in the steps its flushes make), and how much they must write before its
 * load reaches the full mark (90% of its disk): the room its filler leaves follows from
 * the data the node already holds.
 */
const filling = { node: 3 as NodeNumber, address: '127.0.0.3', writesPerSecond: 200, toFullMarkMebibytes: 24 };
/**
 * 2025: each sidecar reads each node's storage every second, not every minute, and
 * gives a probe production's 1.5 s: a node flushing and compacting a filling disk on
 * this machine's two cores answers slower than 0.9 s, and a node its sidecars cannot
 * probe is a node whose storage they cannot read.
 */
const diskSidecar = { cassandra: { probe: { ...sidecar.cassandra.probe, timeout_ms: 1500, storage_interval_ms: 1000 } } };
/**
 * Two data centers: each sidecar probes six nodes, not three, and six JVMs share this
 * machine's two cores with the fleets; probes at production's pace (every 2 s, 1.5 s to
 * answer) keep the probes' own load off the nodes, and a node slowed by the machine from
 * passing for one that is down.
 */
const twoDataCenterSidecar = { cassandra: { probe: { interval_ms: 2000, timeout_ms: 1500 } } };

const detectedBy: Record<ScenarioId, string[]> = {
  2022: ['divergence: stale_pool'],
  2023: ['Cassandra node 127.0.0.1 cannot coordinate'],
  2025: [`Cassandra node ${filling.address}: its disk is full`],
};

interface Context {
  owner: Cleanup;
  progress: Progress;
  options: DemoOptions;
  fleets: (fleets: Fleet[]) => void;
  /** Aborted when the demo is told to stop: no further step starts, and waits end. */
  signal: AbortSignal;
}

export async function runScenario(id: ScenarioId, context: Context): Promise<ScenarioResult> {
  const { owner, progress, options, signal } = context;
  const quick = options.quick;
  const phases: Phase[] = [];
  const phase = async <T>(name: string, waitingFor: string, work: () => Promise<T>): Promise<T> => {
    signal.throwIfAborted();
    const from = Date.now();
    try {
      return await progress.phase(name, waitingFor, work);
    } finally {
      phases.push({ name, from, to: Date.now() });
    }
  };
  const wait = (name: string, ms: number, why: string): Promise<void> => phase(name, `${ms / 1000} s: ${why}`, () => sleep(ms, undefined, { signal }));

  const serviceOptions: ServiceOptions = options.serviceCommand === undefined
    ? { ...service, ...(id === '2022' ? { fault: 'stale-pool' as const } : {}) }
    : { command: options.serviceCommand };
  const plans: { mode: FleetMode; dataCenter: DataCenterName }[] = id === '2025' ? [{ mode: 'acting', dataCenter }] : [
    { mode: 'dry-run', dataCenter }, { mode: 'acting', dataCenter },
    ...(options.dataCenters === 2 ? [{ mode: 'acting', dataCenter: secondDataCenter } as const] : []),
  ];
  const fleetName = (plan: (typeof plans)[number]): string => (options.dataCenters === 2 ? `${id}-${plan.dataCenter}-${plan.mode}` : `${id}-${plan.mode}`);
  const settings = id === '2025' ? { ...sidecar, ...diskSidecar } : options.dataCenters === 2 ? { ...sidecar, ...twoDataCenterSidecar } : sidecar;
  const fleets = await phase(`start ${['a fleet', 'two fleets', 'three fleets'][plans.length - 1] ?? `${plans.length} fleets`}`, 'two pods each (service + sidecar), a balancer and a Prometheus per fleet', async () => {
    const started = await Promise.all(plans.map((plan) => startFleet(owner, { name: fleetName(plan), ...plan, pods: 2, service: serviceOptions, sidecar: settings, alertScale })));
    for (const fleet of started) {
      for (let i = 0; fleet.balancer.endpoints().length < fleet.pods.length; i++) {
        if (i > 100) throw new Error(`${fleet.name}: the balancer has ${fleet.balancer.endpoints().length} of ${fleet.pods.length} pods in rotation after 20 s`);
        await sleep(200, undefined, { signal });
      }
    }
    return started;
  });
  context.fleets(fleets);
  const acting = fleets.find((fleet) => fleet.mode === 'acting') as Fleet;
  const timeline = new Timeline(progress, fleets);
  const traffic = fleets.map((fleet) => sessionTraffic(owner, fleet.balancer.url, { perSecond: options.rate }));
  timeline.watch();
  owner.teardown(() => { timeline.stop(); });
  const startedAt = Date.now();
  progress.line(`${options.rate} session requests per second (POST, GET, DELETE) to each fleet's balancer: ${fleets.map((fleet) => `${fleet.balancer.url} (${fleet.mode})`).join(', ')}`);

  // Both views at the moment each fleet detects the fault.
  const views = new Map<string, DetectionView | null>();
  let faultAt = Infinity;
  const capturing = setInterval(() => {
    for (const fleet of fleets) {
      if (views.has(fleet.name) || !timeline.first(fleet.name, detectedBy[id], faultAt)) continue;
      views.set(fleet.name, null);
      void detectionView(fleet).then((view) => { views.set(fleet.name, view); }, () => undefined);
    }
  }, 250);
  // A scenario that fails half way must not leave a timer keeping the demo alive.
  owner.teardown(() => { clearInterval(capturing); });

  await wait('before the fault', quick ? 5000 : 10_000, 'steady traffic, to compare with');
  let faultEndAt: number;
  let climb: DiskClimb | null = null;
  if (id === '2022') {
    // Rolling maintenance, one node at a time, waiting between nodes as SREs do.
    const order: NodeNumber[] = [2, 3, 1];
    // Quick: the next node stops just after the acting fleet has found the stale pool, while it restarts.
    const settleMs = quick ? 20_000 : 30_000;
    for (const [i, n] of order.entries()) {
      await phase(`maintenance of node ${n}`, `node ${n} to stop, and to serve CQL again`, async () => {
        timeline.add('fault', null, `node ${n} stops for maintenance`);
        await stopNode(n);
        await sleep(3000, undefined, { signal });
        await startNode(n);
        timeline.add('fault', null, `node ${n} serves CQL again${n === 2 ? ': the services\' drivers never take it back' : ''}`);
      });
      if (i === 0) faultAt = Date.now();
      if (i < order.length - 1) await wait(`between nodes`, settleMs, 'the rolling maintenance waits before the next node');
    }
    faultEndAt = Date.now();
  } else if (id === '2023') {
    faultAt = await phase('node 1 reboots', 'node 1 to serve CQL again; it cannot hear its peers, and they keep it UP', async () => {
      timeline.add('fault', null, 'node 1 reboots (killed), and comes back unable to hear its peers');
      // Deaf to their gossip only, as in 2023: replica traffic still reaches it, as dc2's deletes relayed to dc1 through it do.
      const back = await rebootIsolated(1, undefined, { peersKeepItUp: true, gossipOnly: true });
      timeline.add('fault', null, 'node 1 serves CQL again and accepts coordinator work it cannot do (T327954)');
      return back;
    });
    await wait('the split view', quick ? 20_000 : 30_000, 'the services take node 1 back at their reconnect; a third of their queries meet it');
    await heal();
    faultEndAt = Date.now();
    timeline.add('fault', null, 'the fault is fixed: node 1 hears its peers again (in 2023, 16 minutes in)');
  } else {
    ({ faultEndAt, climb } = await fillDisk({ phase, wait, timeline, acting, owner, progress, signal, quick }, (at) => { faultAt = at; }));
  }
  if (id !== '2025') await wait('after the fault', quick ? 10_000 : 20_000, 'traffic after the fault, to compare with');

  const results = await phase('collect', 'the last answers, and every acknowledged write read back from Cassandra', async () => {
    const seen = await Promise.all(traffic.map((t) => t.stop()));
    clearInterval(capturing);
    timeline.stop();
    return Promise.all(fleets.map((fleet, i) => runResult(fleet, seen[i] as TrafficResult, { startedAt, faultAt, faultEndAt, endedAt: Date.now() }, phases, timeline, id, views.get(fleet.name) ?? null, climb)));
  });
  if (id === '2025') {
    await phase(`node ${filling.node} back on its own disk`, 'the small disk unmounted, the node serving CQL again on its own disk and the data it had before', async () => {
      await takeBackSmallDisk();
      await startNode(filling.node);
    });
  }
  return {
    id,
    title: titles[id],
    dataCenters: options.dataCenters,
    incident: incidents[id],
    startedAt, endedAt: Date.now(), faultAt, faultEndAt, phases, events: timeline.events(), runs: results,
  };
}

interface ReplaySteps {
  phase: <T>(name: string, waitingFor: string, work: () => Promise<T>) => Promise<T>;
  wait: (name: string, ms: number, why: string) => Promise<void>;
  timeline: Timeline;
  acting: Fleet;
  owner: Cleanup;
  progress: Progress;
  signal: AbortSignal;
  quick: boolean;
}

/** A node that takes no more writes: its guardrail refuses them, or it stopped after its guardrail said its disk was filling. */
const takesNoWrites = (point: DiskClimb['points'][number]): boolean =>
  point.diskUsage === 'FULL' || (!point.reachable && point.diskUsage === 'STUFFED');

/** 2025: node 3 on a small disk, filled by new sessions until it fails; `faultBegins` is told when the climb starts. */
async function fillDisk(steps: ReplaySteps, faultBegins: (at: number) => void): Promise<{ faultEndAt: number; climb: DiskClimb }> {
  const { phase, wait, timeline, acting, owner, progress, signal, quick } = steps;
  const { node, address, writesPerSecond, toFullMarkMebibytes } = filling;
  // The load reaches the mark when (data + growth) = fullFraction × (data + room).
  const data = dataBytes(node) / 1024 / 1024;
  const roomMebibytes = Math.ceil((data + toFullMarkMebibytes) / disk.fullFraction - data);
  await phase(`node ${node} on a small disk`, `node ${node} to flush and stop, move its data onto a filesystem of its own with ${roomMebibytes} MiB free, serve CQL again, and its sidecars to read its new disk`, async () => {
    // Its memtables on disk first, and read by the sidecars while they still know the big disk: the
    // flush a stop makes would otherwise step the load up just as the disk turns small, a step the trends would take for growth.
    flushNode(node);
    await sleep(3000, undefined, { signal });
    timeline.add('fault', null, `node ${node} stops; its data moves onto a small disk, a filler takes all but ${roomMebibytes} MiB (in 2025: weeks of growth already there)`);
    const settings = await giveSmallDisk(node, { roomMebibytes });
    timeline.add('fault', null, `node ${node} serves CQL again: ${settings.maxDiskMebibytes} MiB of its disk are Cassandra's, ${roomMebibytes} MiB of them free`);
    // Once the sidecars know the new disk: a node busy after its start (its hints, its commit log) may not answer their probes at once.
    for (let i = 0; ; i++) {
      const point = await diskPoint(acting, address);
      if (point.reachable && point.capacityBytes === settings.maxDiskMebibytes * 1024 * 1024) return;
      if (i >= 120) throw new Error(`the sidecars did not read node ${node}'s small disk within a minute: ${JSON.stringify(point)}`);
      await sleep(500, undefined, { signal });
    }
  });
  await wait('a baseline', 12_000, 'ordinary traffic on the small disk: what the node was handed while it was down (its hints) settles first');
  const faultAt = Date.now();
  faultBegins(faultAt);
  const writes = sessionTraffic(owner, acting.balancer.url, { perSecond: writesPerSecond, mix: { POST: 1, GET: 0, DELETE: 0 } });
  progress.line(`and ${writesPerSecond} new sessions per second to ${acting.balancer.url}: the data that fills the disk`);
  const points: DiskClimb['points'] = [];
  const faultEndAt = await phase('the climb', `new sessions to fill node ${node}'s disk until it takes no more writes (its guardrail says FULL, or it stops), at most 4 minutes`, async () => {
    for (const deadline = Date.now() + 240_000; Date.now() < deadline;) {
      const point = await diskPoint(acting, address);
      points.push(point);
      // Failed for 3 s on end (one probe that timed out on a node busy flushing is not it):
      // it gossips FULL, or it stopped answering after its guardrail said its disk was filling.
      const lately = points.filter((p) => p.at > point.at - 3000);
      // It failed when it first took no writes: a guardrail that flickers back to STUFFED
      // while a compaction frees room has refused writes all the same.
      if (lately.length >= 3 && lately.every(takesNoWrites)) return (points.find(takesNoWrites) ?? point).at;
      await sleep(1000, undefined, { signal });
    }
    throw new Error(`node ${node}'s disk did not fill within 4 minutes: ${JSON.stringify(points.at(-1))}`);
  });
  await wait('after the failure', quick ? 5000 : 20_000, 'the sidecars name the full disk; nothing restarts');
  points.push(await diskPoint(acting, address));
  await writes.stop();
  return { faultEndAt, climb: { address, points } };
}

const titles: Record<ScenarioId, string> = {
  2022: '2022-09-15: rolling maintenance; the service\'s driver never takes a node back',
  2023: '2023-01-24: a rebooted node coordinates before it sees its peers (T327954)',
  2025: '2025-03-31: a node\'s disk fills, and the node takes no more writes (T390513)',
};
const incidents: Record<ScenarioId, string> = {
  2022: 'in production: errors for 13 minutes; humans noticed after 12, nothing paged',
  2023: 'in production (2023-01-24): about half of all edits failed for 16 minutes and nothing paged; the report says a rolling restart of Kask at 21:07 was followed by recovery at 21:10, while T327954 puts the cause in Cassandra (node 1 could not hear its peers)',
  2025: 'in production (2025-03-31): disk use climbed for three weeks and nothing said so; nodes in both data centers stopped with full disks, edits failed for about 40 minutes, and service came back only when storage was wiped, every session with it. Here a day of growth lasts 4 s, the climb three weeks: the ticket, the page and the failure, in that order',
};

/** What the first pod's sidecar last read of a node's storage. */
async function diskPoint(fleet: Fleet, address: string): Promise<DiskClimb['points'][number]> {
  const status = await fleet.pods[0]?.sidecar.status().catch(() => null) as StatusAtDetection | null;
  const node = status?.cluster.nodes.find((n) => n.address === address);
  return {
    at: Date.now(),
    loadBytes: node?.storage?.loadBytes ?? null,
    capacityBytes: node?.storage?.maxDiskSizeBytes ?? null,
    diskUsage: node?.storage?.diskUsage ?? null,
    reachable: node?.reachable ?? false,
  };
}

interface StatusAtDetection {
  cluster: { nodes: {
    address: string; reachable: boolean; canCoordinateLocalQuorum: boolean | null; canaryError: { message: string } | null; unheardPeers: { address: string }[] | null;
    storage: { loadBytes: number | null; maxDiskSizeBytes: number | null; diskUsage: string | null } | null;
  }[] };
  service: { pool: { connections: Record<string, number> } | null };
}

async function detectionView(fleet: Fleet): Promise<DetectionView> {
  const pod = fleet.pods[0];
  if (!pod) throw new Error('a fleet without pods');
  // Detection may come from the other pod: this one may not have probed the node back yet (unreachable), or
  // not judged it (a node is not judged until its canary answers after a successful probe). Both show null;
  // the report shows judged nodes, a few probes at most later.
  let status = await pod.sidecar.status() as unknown as StatusAtDetection;
  for (let i = 0; i < 20 && status.cluster.nodes.some((n) => n.canCoordinateLocalQuorum === null); i++) {
    await sleep(500);
    status = await pod.sidecar.status() as unknown as StatusAtDetection;
  }
  return {
    at: Date.now(),
    pod: pod.name,
    nodes: status.cluster.nodes.map((n) => ({
      address: n.address, reachable: n.reachable, canCoordinateLocalQuorum: n.canCoordinateLocalQuorum,
      canaryError: n.canaryError?.message ?? null, unheardPeers: n.unheardPeers?.map((p) => p.address) ?? null,
    })),
    servicePool: status.service.pool?.connections ?? null,
  };
}

/** The sidecar's own refusals, by their problem type (lab/traffic.ts). */
const sidecarRefusal = / (depooled|overloaded)$/;

async function runResult(
  fleet: Fleet, traffic: TrafficResult, times: { startedAt: number; faultAt: number; faultEndAt: number; endedAt: number }, phases: Phase[],
  timeline: Timeline, id: ScenarioId, view: DetectionView | null, disk: DiskClimb | null,
): Promise<RunResult> {
  const rate = (from: number, to: number): number => {
    // Whole seconds only: the first and last second of a window are partial.
    const seconds = traffic.perSecond.filter((s) => s.second * 1000 >= from && (s.second + 1) * 1000 <= to);
    return seconds.length === 0 ? 0 : seconds.reduce((sum, s) => sum + s.ok, 0) / seconds.length;
  };
  const failuresSince = traffic.failureLog.filter((f) => f.at >= times.faultAt);
  const last = failuresSince.at(-1)?.at;
  const stillFailing = last !== undefined && last >= times.endedAt - 3000;
  const detected = timeline.first(fleet.name, detectedBy[id], times.faultAt);
  let retries = 0;
  let restarts = 0;
  for (const pod of fleet.pods) {
    retries += await metricOf(pod.sidecar, 'sessionstore_sidecar_retries_total');
    restarts += await restartsBy(pod.sidecar);
  }
  // Read back in the fleet's own data center, at LOCAL_QUORUM, as its users would.
  const lost = await lostWrites(traffic.acked, nodesIn(fleet.dataCenter));
  const failuresByPhase: Record<string, Record<string, number>> = {};
  for (const failure of traffic.failureLog) {
    const name = phases.findLast((p) => p.from <= failure.at)?.name ?? 'before the first phase';
    const counts = failuresByPhase[name] ??= {};
    counts[failure.what] = (counts[failure.what] ?? 0) + 1;
  }
  return {
    fleet: fleet.name,
    mode: fleet.mode,
    dataCenter: fleet.dataCenter,
    perSecond: traffic.perSecond,
    sent: traffic.sent,
    failed: traffic.failed,
    failures: traffic.failures,
    failuresByPhase,
    // Its own 503s, and every connection the balancer could not place because no pod was in rotation: both measured, not guessed from client errors.
    causedBySidecar: Object.entries(traffic.failures).filter(([what]) => sidecarRefusal.test(what)).reduce((sum, [, n]) => sum + n, 0) + fleet.balancer.rejectedConnections(),
    okPerSecond: { before: rate(times.startedAt, times.faultAt), during: rate(times.faultAt, times.faultEndAt), after: rate(times.faultEndAt, times.endedAt) },
    detectMs: detected ? detected.at - times.faultAt : null,
    healMs: stillFailing ? null : last === undefined ? 0 : last - times.faultAt,
    restarts,
    serviceExits: fleet.pods.flatMap((pod) => pod.service.supervisor.exits().map(({ at, ...exit }) => ({ ...exit, afterFaultMs: at - times.faultAt }))),
    retries,
    alerts: fleet.prometheus.alertLives().filter((l) => l.firedAt !== null).map((l) => ({ ...l, productionFiringAt: fleet.prometheus.productionFiring(l) })),
    view,
    lostWrites: lost.length,
    acknowledgedWrites: traffic.acked.size,
    disk: fleet.mode === 'acting' ? disk : null,
  };
}
