// npm run demo: the session store's outages, replayed on local fleets with and without
// the sidecar, with a live timeline, a summary table and an HTML report.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { down, restore, status, up, warmUp } from '../cluster/cluster.ts';
import { hasSecondDataCenter } from '../cluster/layout.ts';
import type { Cleanup } from '../cleanup.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { ensureServiceBinary } from '../session-service/build.ts';
import { runScenario, type ScenarioId, type ScenarioResult } from './incidents.ts';
import { Progress } from '../progress.ts';
import { summaryLegend, summaryRows, writeReport } from './report.ts';

const help = `npm run demo -- [options]

Replays the session store's outages on this machine: a local three-node Apache
Cassandra cluster (127.0.0.1-3; started if it is not running, stopped again after),
and for 2022 and 2023 two fleets side by side under the same fault: sidecars in dry
run (what happened) and sidecars acting. Each fleet is two pods (a Kask-compatible
service and its sidecar) behind a readiness-aware balancer, scraped by a real
Prometheus with the shipped alert rules. About 10 minutes on a running cluster; the
first run also downloads Cassandra and starts it (1-2 minutes more).

  --scenario 2022|2023|2025|all  which incident (default: all)
      2022  rolling maintenance; the service's driver never takes a node back
      2023  a rebooted node coordinates before it sees its peers (T327954)
      2025  a node's disk fills (T390513): node 3's data on a small disk of its own
            (a loop device; needs root), filled by new sessions until the node
            stops, with the disk alerts' days lasting seconds; one fleet, acting
  --dcs 1|2                 the cluster's shape (default: 1). 2: the two-DC shape,
                            as production runs eqiad and codfw: dc2 (127.0.0.5-7)
                            joins for the demo and leaves again after (about 40 s
                            each way; the cluster is left in the shape it was
                            found). The fault stays in dc1, and a third fleet,
                            acting, runs in dc2 under the same traffic. 2022 and
                            2023 only (2025's small disk is the one-DC lab's)
  --quick                   shorter quiet windows before and after each fault
                            (CI runs this: about 40 s less; most of the time is
                            Cassandra's own restarts)
  --keep                    leave the last scenario's fleets, Prometheus and the
                            cluster running, print their URLs, and wait for Ctrl-C
  --service-cmd "…"         run this instead of the lab's service in every pod. A
                            shell command in which {port} and {config} are
                            replaced; {config} is the lab service's JSON config file
                            (mode 0600), which holds the cluster's credentials and
                            TLS files: secrets never go on a command line. It must
                            serve Kask's API on 127.0.0.1:{port} (GET/POST/DELETE
                            /sessions/v1/{key}, GET /healthz), store in the cluster
                            at its data center's nodes (the config's hosts and
                            local_dc; keyspace sessions, table values) at
                            LOCAL_QUORUM, deletes at EACH_QUORUM, exit on SIGTERM
                            (it is started again), and not fork away: the
                            sidecars read its pool from the pid they are given.
  --report FILE             where the HTML report goes (default: demo-report.html);
                            the same data goes to FILE with .json
  --rate N                  requests per second to each fleet (default: 20)
  --help                    this text; starts nothing
`;

let args;
try {
  args = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      dcs: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'service-cmd': { type: 'string' },
      report: { type: 'string', default: 'demo-report.html' },
      rate: { type: 'string', default: '20' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n\n${help}`);
  process.exit(2);
}
if (args.help) {
  console.log(help);
  process.exit(0);
}
const dataCenters = args.dcs === '2' ? 2 : 1;
const scenarioIds: ScenarioId[] = dataCenters === 2 ? ['2022', '2023'] : ['2022', '2023', '2025'];
const scenarios = args.scenario === 'all' ? scenarioIds : scenarioIds.filter((id) => id === args.scenario);
const rate = Number(args.rate);
const refusal = args.dcs !== '1' && args.dcs !== '2' ? `--dcs takes 1 or 2, not ${args.dcs}`
  : args.scenario === '2025' && dataCenters === 2 ? "--scenario 2025 runs on one data center only (its small disk is the one-DC lab's node 3)"
    : scenarios.length === 0 ? `unknown scenario ${args.scenario}`
      : !(rate > 0 && rate <= 500) ? `--rate must be between 1 and 500, not ${args.rate}` : null;
if (refusal !== null) {
  console.error(`${refusal}\n\n${help}`);
  process.exit(2);
}

// Everything the demo starts is stopped again, in reverse order: after each scenario,
// at the end, on failure, on Ctrl-C and on SIGTERM.
const cleanups: (() => unknown)[] = [];
const owner: Cleanup = { teardown: (fn) => cleanups.unshift(fn) };
// One cleanup, however many ask for it (a signal and the scenario it stops), so that
// nobody exits while another is still stopping something. One that fails is said, and
// the rest still run: a cluster left half restored must not pass for a clean exit.
let cleaning: Promise<void> | undefined;
let cleanupFailed = false;
const cleanUp = (): Promise<void> => cleaning ??= (async () => {
  while (cleanups.length > 0) {
    try {
      await cleanups.shift()?.();
    } catch (error) {
      console.error(`demo: cleaning up failed: ${(error as Error).message}`);
      cleanupFailed = true;
      process.exitCode = 1;
    }
  }
})();
const progress = new Progress();
let live: Fleet[] = [];
// A signal also stops the scenario at its next step, so that it does not go on faulting the cluster while it is restored.
const stopping = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress.line(`${signal}: stopping everything the demo started`);
    stopping.abort(new Error(`stopped by ${signal}`));
    void cleanUp().finally(() => process.exit(cleanupFailed ? 1 : signal === 'SIGINT' ? 130 : 143));
  });
}

/** What the sidecars thought and did, for whoever reads a failed demo. */
async function explainFailure(): Promise<void> {
  for (const fleet of live) {
    for (const pod of fleet.pods) {
      const state = await pod.sidecar.status().catch(() => null) as { reconcile?: unknown; remediation?: unknown } | null;
      console.log(`${pod.name}: verdict and remediation: ${JSON.stringify({ reconcile: state?.reconcile, remediation: state?.remediation })}`);
      for (const line of pod.sidecar.logs.filter((l) => l.level === 'warn' || l.level === 'error').slice(-5)) console.log(`${pod.name}: ${JSON.stringify(line)}`);
    }
  }
}

const results: ScenarioResult[] = [];
try {
  ensureServiceBinary((line) => { progress.line(`session service: ${line}`); });
  const log = (line: string): void => { progress.line(`cluster: ${line}`); };
  const wasUp = (await status()).every((node) => node.answersCql);
  const foundShape = hasSecondDataCenter() ? 2 : 1;
  if (!wasUp) {
    await progress.phase('start the local Cassandra cluster', 'three nodes to answer CQL and see each other, then to warm up (first run: the download too)', async () => {
      await up(log);
      await warmUp(log);
    });
    if (!args.keep) owner.teardown(() => down());
  }
  if (foundShape !== dataCenters) {
    await progress.phase(dataCenters === 2 ? 'dc2 joins' : 'dc2 leaves', `the cluster in the ${dataCenters === 2 ? 'two' : 'one'}-DC shape (about 40 s)`, () => up(log, { dataCenters }));
    // Back to the shape it was found in (and then stopped, if it was found stopped).
    if (!args.keep) owner.teardown(() => up(log, { dataCenters: foundShape }));
  }
  owner.teardown(() => restore());
  for (const [i, id] of scenarios.entries()) {
    const last = i === scenarios.length - 1;
    // Each scenario's fleets go before the next one starts (two cores); with --keep the last one stays.
    const scenarioCleanups: (() => unknown)[] = [];
    const scope: Cleanup = last && args.keep ? owner : { teardown: (fn) => scenarioCleanups.unshift(fn) };
    if (!(last && args.keep)) owner.teardown(async () => { while (scenarioCleanups.length > 0) await scenarioCleanups.shift()?.(); });
    progress.line(`scenario ${id}`);
    // A scenario whose fleets fail to start has none to explain, not the last one's.
    live = [];
    results.push(await runScenario(id, { owner: scope, progress, signal: stopping.signal, options: { quick: args.quick, rate, dataCenters, ...(args['service-cmd'] === undefined ? {} : { serviceCommand: args['service-cmd'] }) }, fleets: (f) => { live = f; } }));
    // Its traffic has stopped: its pods, balancers and Prometheus stop side by side (each sidecar takes its propagation time).
    if (!(last && args.keep)) await Promise.all(scenarioCleanups.splice(0).map((cleanup) => cleanup()));
  }
  console.table(summaryRows(results));
  for (const line of summaryLegend) console.log(`  ${line}`);
  for (const run of results.flatMap((s) => s.runs)) if (run.failed > 0) console.log(`  ${run.fleet} failures: ${JSON.stringify(run.failures)}`);
  for (const scenario of results) console.log(`${scenario.id}: ${scenario.incident}`);
  const report = writeReport(resolve(args.report), results);
  console.log(`report: ${report.html} (data: ${report.json})`);
  const lost = results.flatMap((s) => s.runs).reduce((sum, run) => sum + run.lostWrites, 0);
  console.log(lost === 0 ? 'every acknowledged write read back from Cassandra at LOCAL_QUORUM' : `${lost} acknowledged writes are missing!`);
  if (lost > 0) process.exitCode = 1;
  if (args.keep) {
    for (const fleet of live) {
      console.log(`${fleet.name}: balancer ${fleet.balancer.url}, Prometheus ${fleet.prometheus.url}`);
      for (const pod of fleet.pods) console.log(`  ${pod.name}: ${pod.sidecar.adminUrl}/status  ${pod.sidecar.adminUrl}/metrics`);
    }
    console.log('everything keeps running; Ctrl-C stops it');
    await new Promise(() => undefined);
  }
} catch (error) {
  // Stopped by a signal: its handler exits (130 or 143) once everything is stopped.
  if (!stopping.signal.aborted) {
    console.error(`demo failed: ${(error as Error).message}`);
    process.exitCode = 1;
    await explainFailure();
  }
} finally {
  await cleanUp();
}
