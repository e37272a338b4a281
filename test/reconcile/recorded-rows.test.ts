// The matrix rows too long for the suite, held by what their sidecar really saw: each
// recording in test/reconcile/recorded/ is the decision inputs of a row's replay on the
// real cluster (`npm run matrix -- --row ROW --record test/reconcile/recorded`), fed
// again, tick by tick, through the pure decision core. A change to diagnose() that would
// have restarted the service, or named the wrong node, in any of those rows fails here.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readRecording, replay, type ReplayedTick } from '../../lab/matrix/recording.ts';
import { rows } from '../../lab/matrix/rows.ts';
import type { RecordedInputs } from '../../src/reconcile/reconciler.ts';

const directory = join(import.meta.dirname, 'recorded');

const judged = (ticks: ReplayedTick[]) => ticks.flatMap((tick) => (tick.verdict ? [{ now: tick.now, verdict: tick.verdict }] : []));
const restartsCalled = (ticks: ReplayedTick[]): ReplayedTick[] => ticks.filter((tick) => tick.verdict?.action === 'restart');
const named = (ticks: ReplayedTick[]): string[] => [...new Set(ticks.flatMap((tick) => tick.verdict?.brokenCoordinators ?? []))];

/** What each row's replay must show. */
const expectations: Record<string, (t: Test, ticks: ReplayedTick[]) => void> = {
  'node-restarts': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'three nodes stopped and started: never a restart');
    t.same(named(ticks), [], 'no node named a broken coordinator (a node coming back is not one)');
  },
  'flaky-node': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'a stalling node: never a restart');
    t.same(named(ticks), [], 'never named on one failed probe or a half-open breaker');
  },
  'slow-start': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'a service 30 s from answering: never a restart');
    t.notOk(ticks.some((tick) => tick.verdict?.findings.some((f) => f.rule === 'stale_pool')), 'and its empty pool is never a stale pool');
  },
  'crash-loop': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'a service exiting at every start under the kubelet\'s backoff: never a restart (the kubelet\'s business)');
    t.notOk(ticks.some((tick) => tick.verdict?.findings.some((f) => f.rule === 'stale_pool')), 'its empty pool is never a stale pool');
    t.ok(judged(ticks).some(({ verdict }) => verdict.evidence.some((line) => /does not answer its health check/.test(line))), 'the verdict says why nothing is judged');
  },
  'cluster-wide': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'Cassandra failing everywhere: never a restart');
  },
  'cluster-outage': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'the data center down, and back: never a restart, before or after');
    t.ok(judged(ticks).some(({ verdict }) => verdict.suppressed?.reason === 'no_local_quorum' || verdict.findings.length === 0), 'judged throughout');
  },
  'stale-fleet': (t, ticks) => {
    const called = restartsCalled(ticks);
    t.ok(called.length > 0, 'the stale pool calls for a restart');
    t.ok(called.every((tick) => tick.verdict?.rule === 'stale_pool'), 'for the stale pool, and nothing else');
    t.same(named(ticks), [], 'no node named');
    t.same(judged(ticks).at(-1)?.verdict.findings, [], 'and once healed, quiet');
  },
  'replaced-node': (t, ticks) => {
    t.same(restartsCalled(ticks), [], 'a node replaced at a new address, and back: never a restart (gocql took each new node by itself)');
    t.same(named(ticks), [], 'no node named');
  },
  'sidecar-restart': (t, ticks) => {
    const called = restartsCalled(ticks);
    t.ok(called.length > 0, 'the sidecar started again rebuilds the stale pool\'s verdict from the world');
    t.ok(called.every((tick) => tick.verdict?.rule === 'stale_pool'), 'for the stale pool');
    t.same(judged(ticks).at(-1)?.verdict.findings, [], 'and once cured, quiet');
  },
};

const files = readdirSync(directory).filter((name) => name.endsWith('.json.gz')).sort();

void t.test('every row the suite does not replay on the cluster has a recording, and every recording a row', (t) => {
  const recorded = files.map((name) => name.replace(/\.json\.gz$/, ''));
  t.same(recorded, Object.keys(expectations).sort(), 'one recording per expectation');
  for (const name of recorded) t.ok(rows.some((row) => row.name === name), `${name} is a row of npm run matrix`);
  t.end();
});

for (const file of files) {
  void t.test(`the ${file.replace(/\.json\.gz$/, '')} row, as recorded on the real cluster`, (t) => {
    const recording = readRecording(join(directory, file));
    t.ok(recording.right, 'the row\'s outcome was right when it was recorded');
    const ticks = replay(recording.inputs);
    t.ok(judged(ticks).length >= 30, `the recording holds the row's ticks (${ticks.length}, ${judged(ticks).length} judged)`);
    const expect = expectations[recording.row];
    if (!expect) throw new Error(`no expectation for row ${recording.row}`);
    expect(t, ticks);
    t.end();
  });
}

// The recordings hold the moments the guards exist for: without them, the same inputs call for restarts.
void t.test('the recordings bite: a decision core without its guards would have restarted in them', (t) => {
  const recorded = (row: string): RecordedInputs => readRecording(join(directory, `${row}.json.gz`)).inputs;
  for (const row of ['node-restarts', 'flaky-node', 'cluster-wide', 'cluster-outage', 'replaced-node']) {
    const inputs = recorded(row);
    const hasty = { ...inputs, policy: { ...inputs.policy, staleGraceMs: 0, sustainMs: 0 } };
    t.ok(restartsCalled(replay(hasty)).length > 0, `${row}: without the stale grace and the sustain, a restart`);
  }
  for (const row of ['slow-start', 'crash-loop']) {
    const inputs = recorded(row);
    const takenAsAnswering = { ...inputs, ticks: inputs.ticks.map((tick) => ({ ...tick, service: { ...tick.service, answering: true } })) };
    t.ok(restartsCalled(replay(takenAsAnswering)).length > 0, `${row}: a service taken as answering when it does not, a restart`);
  }
  t.end();
});
