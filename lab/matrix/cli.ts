// npm run matrix: replays production situations on the real cluster, with the gocql
// session service and acting sidecars at their defaults, and prints one table: what
// must happen, and what did. Exits 1 when any row's outcome is wrong.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Cleanup } from '../cleanup.ts';
import { restore, status, up, warmUp } from '../cluster/cluster.ts';
import { Progress } from '../progress.ts';
import { ensureServiceBinary } from '../session-service/build.ts';
import type { SidecarProcess } from '../sidecar-process.ts';
import { recordedInputsOf, writeRecording } from './recording.ts';
import { rows, type RowResult } from './rows.ts';

const usage = `usage: npm run matrix -- [--row NAME]... [--rate N]... [--json FILE] [--record DIR]

Replays each production situation on the local Cassandra cluster (started if it is
not running) with the lab's gocql session service and an acting sidecar at its
defaults, under steady session traffic, and prints what must happen and what did.

  --row NAME    only this row (repeatable): ${rows.map((r) => r.name).join(', ')}
  --rate N      requests per second of session traffic (default 30); repeated, the
                T327954 row measures each rate in turn in one fault window, and the
                other rows use the first
  --json FILE   also write the results to FILE
  --record DIR  also keep, for each row, its sidecar's decision inputs (GET
                /reconcile/inputs) in DIR/ROW.json.gz: the suite replays those in
                test/reconcile/recorded/ through the decision core`;

const { values: args } = parseArgs({
  options: { row: { type: 'string', multiple: true }, rate: { type: 'string', multiple: true, default: ['30'] }, json: { type: 'string' }, record: { type: 'string' }, help: { type: 'boolean' } },
});
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const unknown = (args.row ?? []).filter((name) => !rows.some((r) => r.name === name));
if (unknown.length > 0) {
  console.error(`unknown row ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}
const rates = args.rate.map(Number);
const badRate = args.rate.find((_, i) => !((rates[i] ?? 0) > 0 && (rates[i] ?? 0) <= 2000));
if (badRate !== undefined) {
  console.error(`--rate must be a number of requests per second from 1 to 2000, got ${badRate}`);
  process.exit(2);
}

const progress = new Progress();
const share = (w: { sent: number; failed: number } | null): string => (w ? `${w.failed}/${w.sent} (${((100 * w.failed) / Math.max(1, w.sent)).toFixed(1)}%)` : '–');
const results: RowResult[] = [];
const cleanups: (() => unknown)[] = [];
const owner: Cleanup = { teardown: (fn) => { cleanups.unshift(fn); } };
const cleanUp = async (): Promise<void> => {
  for (const fn of cleanups.splice(0)) await fn();
  await restore();
};
process.once('SIGINT', () => { void cleanUp().finally(() => process.exit(130)); });
process.once('SIGTERM', () => { void cleanUp().finally(() => process.exit(143)); });

try {
  ensureServiceBinary((line) => { progress.line(line); });
  if (!(await status()).every((node) => node.answersCql)) {
    await progress.phase('start the local Cassandra cluster', 'three nodes to answer CQL', async () => { await up(); await warmUp(); });
  }
  for (const row of rows.filter((r) => !args.row || args.row.includes(r.name))) {
    const recorded: { sidecar?: SidecarProcess } = {};
    const result = await progress.phase(`row ${row.name}`, row.situation, () => row.run({
      owner, rates, log: (line) => { progress.line(`${row.name}: ${line}`); }, record: (sidecar) => { recorded.sidecar = sidecar; },
    }));
    results.push(result);
    if (args.record !== undefined && recorded.sidecar) {
      mkdirSync(args.record, { recursive: true });
      const file = join(args.record, `${row.name}.json.gz`);
      writeRecording(file, { row: row.name, right: result.right, inputs: await recordedInputsOf(recorded.sidecar) });
      progress.line(`${row.name}: decision inputs kept in ${file}`);
    }
    for (const line of result.happened) progress.line(`${row.name}: ${line}`);
    for (const fn of cleanups.splice(0)) await fn();
    await restore();
  }
} finally {
  await cleanUp();
}

console.log('\n| row | must happen | restarts | failed in the fault window, with the sidecar | without | retries succeeded / failed / skipped | right |');
console.log('|---|---|---:|---|---|---|---|');
for (const r of results) {
  const retries = r.retries ? `${r.retries.succeeded} / ${r.retries.failed} / ${JSON.stringify(r.retries.skipped)}` : '–';
  console.log(`| ${r.row} | ${r.expected} | ${r.restarts} | ${share(r.failedWithSidecar)} | ${share(r.failedWithout)} | ${retries} | ${r.right ? 'yes' : '**no**'} |`);
}
const phased = results.filter((r) => r.phases);
if (phased.length > 0) {
  console.log('\n| row | rate/s asked (sent) | failed with the sidecar | without | retries tried / succeeded / skipped | extra load: cluster / healthy coordinators | retried p50 / p99 | all p50 / p99 |');
  console.log('|---|---:|---|---|---|---|---|---|');
  const ms = (value: number | null): string => (value === null ? '–' : value.toFixed(1));
  for (const r of phased) {
    for (const p of r.phases ?? []) {
      const a = p.retries;
      console.log(`| ${r.row} | ${p.rate} (${p.sentPerSecond} sent) | ${share(p.withSidecar)} | ${share(p.without)} | ${a.tried} / ${a.succeeded} / ${JSON.stringify(a.skipped)} | ${(100 * a.extraLoad).toFixed(1)}% / ${(100 * p.healthyExtraLoad).toFixed(1)}% | ${ms(a.latencyMs.retried.p50)} / ${ms(a.latencyMs.retried.p99)} ms | ${ms(a.latencyMs.all.p50)} / ${ms(a.latencyMs.all.p99)} ms |`);
    }
  }
}
if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
process.exit(results.every((r) => r.right) ? 0 : 1);
