// The demo as CI runs it (`npm run demo -- --quick`), end to end on the real cluster:
// acting beats dry run in 2022 and 2023, the sidecars' own restarts fail no request,
// the expected alerts fire; in 2025 a node's disk fills for real (a loop device) and
// the ticket, the page and the node's failure come in that order, the failure named,
// nothing restarted. The HTML report holds every run and the climb, and renders in a
// real headless browser (Debian's chromium), offline, without errors. And a demo
// stopped half way through the climb leaves nothing behind: no mount, no loop device.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { diskAlertNames } from '../../k8s/monitoring/alerts.ts';
import { localNode, status } from '../../lab/cluster/cluster.ts';
import { activeRules } from '../../lab/cluster/faults.ts';
import { smallDisk } from '../../lab/cluster/small-disk.ts';
import type { RunResult, ScenarioResult } from '../../lab/demo/incidents.ts';
import { checkReportInBrowser } from '../support/report-in-browser.ts';
import { demo, failureOutput, runDemo, startDemo } from '../support/demo.ts';

// The demo's quick form takes about 9 minutes, above the suite's per-file timeout.
t.setTimeout(20 * 60_000);

/** Whether anything of the small-disk fault is left: its record, a mount under the cluster, a loop device on its image. */
function smallDiskLeft(): string[] {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((line) => line.includes('/small-disk '));
  const loops = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes('small-disk.img'));
  return [...(smallDisk() === null ? [] : ['the record']), ...mounts, ...loops];
}

void t.test('--help prints the options and starts nothing; a wrong option is a clear error', (t) => {
  const help = spawnSync(process.execPath, [demo, '--help'], { encoding: 'utf8', timeout: 10_000 });
  t.equal(help.status, 0);
  t.match(help.stdout, /--scenario 2022\|2023\|2025\|all[\s\S]*--dcs 1\|2[\s\S]*--quick[\s\S]*--keep[\s\S]*--service-cmd[\s\S]*--report/);
  t.notMatch(help.stdout, /scenario 2022\n|start two fleets/, 'nothing ran');
  const wrong = spawnSync(process.execPath, [demo, '--scenario', '2024'], { encoding: 'utf8', timeout: 10_000 });
  t.equal(wrong.status, 2);
  t.match(wrong.stderr, /unknown scenario 2024/);
  for (const [args, said] of [[['--dcs', '3'], /--dcs takes 1 or 2, not 3/], [['--dcs', '2', '--scenario', '2025'], /--scenario 2025 runs on one data center only/]] as const) {
    const refused = spawnSync(process.execPath, [demo, ...args], { encoding: 'utf8', timeout: 10_000 });
    t.equal(refused.status, 2, `${args.join(' ')}: refused`);
    t.match(refused.stderr, said);
  }
  t.end();
});

void t.test('npm run demo -- --quick: three incidents, dry run against acting, the disk climb, a report that renders', async (t) => {
  const dir = t.testdir();
  const { code, output, report, results } = await runDemo(t, dir, ['--quick']);
  t.equal(code, 0, 'the demo succeeded', failureOutput(output));
  t.match(output, /▶ start two fleets: waiting for/, 'a newcomer is told what each phase waits for (plain lines without a terminal)');
  t.match(output, /┌.*scenario.*run.*failed/s, 'a summary table');

  t.same(results.map((s) => s.id), ['2022', '2023', '2025']);
  for (const scenario of results) {
    t.equal(scenario.dataCenters, 1, `${scenario.id}: on one data center, the default`);
    const phaseNames = new Set(scenario.phases.map((p) => p.name));
    for (const run of scenario.runs) {
      t.equal(run.dataCenter, 'dc1', `${scenario.id} ${run.mode}: its fleet in dc1, where the fault is`);
      // Every failure counted once, in a phase the scenario went through.
      const byPhase = Object.values(run.failuresByPhase).flatMap((counts) => Object.values(counts)).reduce((a, b) => a + b, 0);
      t.equal(byPhase, run.failed, `${scenario.id} ${run.mode}: its failures by phase add up to its ${run.failed} failures`);
      t.same(Object.keys(run.failuresByPhase).filter((name) => !phaseNames.has(name)), [], `${scenario.id} ${run.mode}: each in one of the scenario's phases`, { failuresByPhase: run.failuresByPhase });
    }
  }
  for (const scenario of results.filter((s) => s.id !== '2025')) {
    const dry = scenario.runs.find((r) => r.mode === 'dry-run') as RunResult;
    const acting = scenario.runs.find((r) => r.mode === 'acting') as RunResult;
    const share = (run: RunResult): string => `${run.failed} of ${run.sent}`;
    t.ok(dry.sent > 0 && acting.sent > 0, `${scenario.id}: traffic went to both fleets`);
    t.ok(acting.failed < dry.failed, `${scenario.id}: acting failed fewer requests (${share(acting)}) than the dry run (${share(dry)})`);
    t.equal(acting.causedBySidecar, 0, `${scenario.id}: no request failed because of the sidecars' own restarts (the balancer had somewhere else to go)`, { failures: acting.failures });
    t.ok(dry.detectMs !== null && acting.detectMs !== null, `${scenario.id}: both fleets diagnosed the fault (${dry.detectMs} ms, ${acting.detectMs} ms)`);
    t.equal(dry.restarts, 0, `${scenario.id}: the dry run restarted nothing`, { serviceExits: dry.serviceExits });
    t.same([dry.lostWrites, acting.lostWrites], [0, 0], `${scenario.id}: every acknowledged write reads back`);
    const fired = (run: RunResult, alert: string, address?: string): boolean => run.alerts.some((a) => a.alert === alert && (address === undefined || a.labels.address === address));
    // What the acting fleet's sidecars saw and did, for whoever reads a failure.
    const seen = { timeline: scenario.events.filter((e) => e.fleet !== dry.fleet).map((e) => `${((e.at - scenario.faultAt) / 1000).toFixed(1)} s ${e.fleet ?? ''} ${e.text}`) };
    if (scenario.id === '2022') {
      t.ok(acting.restarts >= 2, `2022: the acting fleet restarted both pods' services (${acting.restarts} restarts)`);
      t.ok(dry.healMs === null, '2022: without restarts, users were still failing at the end');
      t.ok(fired(dry, 'SessionStoreErrorRateHigh'), '2022: the dry run paged for the error rate');
      t.ok(fired(dry, 'SessionStoreViewDivergence'), "2022: and for the services' view, diverging with nothing curing it");
      t.notOk(fired(dry, 'SessionStoreRemediationNeedsHuman'), '2022: but not for a spent restart budget: the dry run restarted nothing');
      t.notOk(fired(acting, 'SessionStoreErrorRateHigh'), '2022: the acting fleet did not');
    } else {
      t.ok(acting.failed / acting.sent < 0.01, `2023: under 1% of requests failed with retries (${share(acting)})`, seen);
      t.equal(acting.restarts, 0, '2023: no restart: it cannot help', seen);
      t.ok(acting.retries > 0, `2023: the acting fleet retried (${acting.retries})`);
      for (const run of [dry, acting]) t.ok(fired(run, 'SessionStoreCoordinatorCannotAchieveLocalQuorum', '127.0.0.1'), `2023 ${run.mode}: Prometheus paged for node 127.0.0.1`, seen);
      t.ok(fired(dry, 'SessionStoreErrorRateHigh'), '2023: the dry run paged for the error rate too');
      t.notOk(fired(acting, 'SessionStoreErrorRateHigh'), '2023: the acting fleet, its users shielded, did not');
      t.same(acting.view?.nodes.find((n) => n.address === '127.0.0.1')?.canCoordinateLocalQuorum, false, '2023: the view at detection shows node 1 unable to coordinate');
    }
  }

  checkDiskClimb(t, results.find((s) => s.id === '2025') as ScenarioResult);
  t.same(smallDiskLeft(), [], 'the small disk is gone: no mount, no loop device');

  await checkReportInBrowser(t, dir, report, { count: 6, what: "two runs of 2022 and of 2023, and 2025's run and its climb" });
});

/** 2025: the ticket, then the page, then the node's failure, named; no restart; nothing said of the other nodes' disks. */
function checkDiskClimb(t: Test, scenario: ScenarioResult): void {
  const [run, ...others] = scenario.runs;
  t.ok(run?.mode === 'acting' && others.length === 0, '2025: one fleet, acting');
  if (!run) return;
  const filling = '127.0.0.3';
  const failedAt = scenario.faultEndAt;
  const firstFiring = (alert: string): number | null => {
    const fired = run.alerts.filter((a) => a.alert === alert && a.labels.address === filling && a.firedAt !== null).map((a) => a.firedAt as number);
    return fired.length === 0 ? null : Math.min(...fired);
  };
  const ticket = firstFiring('SessionStoreCassandraDiskGrowing');
  const page = firstFiring('SessionStoreCassandraDiskFillingUp');
  const full = firstFiring('SessionStoreCassandraDiskFull');
  const named = scenario.events.find((e) => e.fleet === run.fleet && e.at >= scenario.faultAt && e.text.includes(`Cassandra node ${filling}: its disk is full`));
  const relative = (at: number | null | undefined): string => (at === null || at === undefined ? 'never' : `${((at - failedAt) / 1000).toFixed(1)} s`);
  t.comment(`2025, relative to node 3's failure (${((failedAt - scenario.faultAt) / 1000).toFixed(1)} s into the climb): ticket ${relative(ticket)}, page ${relative(page)}, full-disk page ${relative(full)}, the sidecars named the full disk ${relative(named?.at)}`);
  t.ok(ticket !== null && page !== null && ticket < page, '2025: the ticket (SessionStoreCassandraDiskGrowing) first, then the page (SessionStoreCassandraDiskFillingUp)');
  t.ok(page !== null && page < failedAt, '2025: the page before the node failed');
  t.ok(full !== null, '2025: and the full-disk page (SessionStoreCassandraDiskFull)');
  t.ok(named, '2025: the sidecars named the full disk as the cause');
  t.same(run.alerts.filter((a) => diskAlertNames.includes(a.alert) && a.labels.address !== filling).map((a) => a.labels.address), [], '2025: no disk alert for the nodes whose disks are not filling');
  t.same(run.alerts.filter((a) => a.labels.severity === 'page' && !diskAlertNames.includes(a.alert)).map((a) => a.alert), [], '2025: no other page (not the error rate, not quorum: the disk\'s pages say it)');
  t.equal(run.restarts, 0, '2025: no restart: it cannot help');
  t.same(run.serviceExits, [], '2025: no service process exited');
  t.ok((run.disk?.points.length ?? 0) > 20, `2025: the climb, read every second (${run.disk?.points.length ?? 0} readings)`);
}

void t.test('SIGTERM in the middle of the disk\'s climb: the demo stops at once, everything it started stops, and the cluster is left as it was found', async (t) => {
  const processes = (): string => spawnSync('pgrep', ['-fc', 'session-service --config|src/cli.ts --config|prometheus --config.file'], { encoding: 'utf8' }).stdout.trim();
  const before = processes();
  const child = startDemo(t, ['--quick', '--scenario', '2025', '--report', join(t.testdir(), 'demo-report.html')]);
  let output = '';
  // Node 3 runs on its small disk.
  const faultInPlace = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/▶ a baseline/.test(output)) resolve();
    });
  });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const closed = once(child, 'close') as Promise<[number | null]>;
  await Promise.race([faultInPlace, closed]);
  t.ok(smallDiskLeft().length >= 2, `the fault is in place: node 3's data on a mounted loop device (${smallDiskLeft().join('; ')})`);
  child.kill('SIGTERM');
  const [code] = await closed;
  t.equal(code, 143, 'the demo exits 143 after SIGTERM', failureOutput(output));
  const afterSignal = output.slice(output.indexOf('SIGTERM: stopping everything the demo started'));
  t.ok(afterSignal.length < output.length, 'it says it stops everything');
  t.notMatch(afterSignal, /▶ the climb|▶ collect/, 'no step of the scenario starts after the signal');
  t.same(smallDiskLeft(), [], 'no mount, no loop device, no record is left');
  t.ok(existsSync(join(localNode(3).dir, 'data', 'system')), 'node 3\'s data is back in its own directory');
  t.same(activeRules(), [], 'no iptables rule is left');
  t.equal(processes(), before, 'no service, sidecar or Prometheus it started is left running');
  const nodes = await status();
  t.ok(nodes.every((node) => node.process === 'running' && node.answersCql), 'every node runs and answers CQL', { nodes, output: output.slice(-3000) });
});
