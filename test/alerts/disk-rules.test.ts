// The disk alerts, by Prometheus's own promtool, over weeks (the 2025-03-31 outage: disk
// use climbed for three weeks, nodes died with full disks, every session was wiped):
//   - the climb: three days flat, then three weeks of growth to a full disk. The ticket must
//     come weeks ahead, the page days ahead, and the full-disk page at the 90% mark;
//   - a quiet week: a daily compaction sawtooth, one node at 80% of its disk: silence;
//   - the guardrail's own word: STUFFED files the ticket, FULL pages.
// Sampled every 10 minutes (weeks at 30 s would be 60,000 samples a series); the rules'
// windows hold hundreds of samples either way.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { alerts, disk, diskAlertNames, promDuration, sidecarJob } from '../../k8s/monitoring/alerts.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { promtool, type PromtoolOutcome } from '../support/promtool.ts';
import { annotations } from './scenarios.ts';

const rulesFile = join(import.meta.dirname, '../../k8s/monitoring/sessionstore-sidecar.rules.yaml');
const dir = temporaryDirectory(t, 'disk-rules-');
const stepMinutes = 10;
const perDay = (24 * 60) / stepMinutes;
const pods = ['pod-a:9364', 'pod-b:9364'];
// In two data centers: each alert names its node's.
const [climbing, steady] = ['10.64.0.144', '10.192.16.85'];
const dataCenter: Record<string, string> = { [climbing]: 'eqiad', [steady]: 'codfw' };
const capacity = 1_500_000_000_000;
const diskAlerts = diskAlertNames;

/** A gauge sampled every 5 minutes, one value per sample (promtool's expanding notation where it repeats). */
const series = (metric: string, labels: Record<string, string>, values: number[]): { series: string; values: string }[] =>
  pods.map((instance) => ({
    series: `${metric}{${Object.entries({ job: sidecarJob, instance, ...labels }).map(([k, v]) => `${k}="${v}"`).join(',')}}`,
    values: values.map((v) => Math.round(v)).join(' '),
  }));

/** Each alert among the disk alerts that must fire at each day of the scenario. */
interface Check { day: number; firing: { alert: string; address: string }[] }

function testDiskAlerts(name: string, inputSeries: { series: string; values: string }[], checks: Check[]): Promise<PromtoolOutcome> {
  const test = {
    interval: `${stepMinutes}m`,
    name,
    input_series: inputSeries,
    alert_rule_test: checks.flatMap(({ day, firing }) => diskAlerts.map((alertname) => {
      const alert = alerts.find((a) => a.alert === alertname);
      if (!alert) throw new Error(`no alert ${alertname}`);
      return {
        eval_time: promDuration(Math.round(day * 86400)),
        alertname,
        exp_alerts: firing.filter((f) => f.alert === alertname).map(({ address }) => {
          const labels = { job: sidecarJob, address, dc: dataCenter[address] as string, severity: alert.severity };
          return { exp_labels: labels, exp_annotations: annotations(alert, labels, undefined) };
        }),
      };
    })),
  };
  const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(file, stringify({ rule_files: [rulesFile], evaluation_interval: `${stepMinutes}m`, tests: [test] }, { lineWidth: 0 }));
  return promtool('test', 'rules', file);
}

const samples = (days: number, value: (day: number) => number): number[] => Array.from({ length: Math.round(days * perDay) + 1 }, (_, i) => value(i / perDay));
const everyNode = (days: number, load: Record<string, (day: number) => number>): { series: string; values: string }[] => Object.entries(load).flatMap(([address, at]) => [
  ...series('sessionstore_sidecar_cassandra_node_load_bytes', { address }, samples(days, at)),
  ...series('sessionstore_sidecar_cassandra_node_disk_capacity_bytes', { address }, samples(days, () => capacity)),
  ...series('sessionstore_sidecar_cassandra_node_up', { address, dc: dataCenter[address] as string, rack: 'r1' }, samples(days, () => 1)),
]);

void t.test('the 2025-03-31 climb: the ticket weeks ahead, the page days ahead, the full-disk page at 90%', async (t) => {
  // Three days at 40% (the ticket's window: its trend needs that much history), then three weeks of growth to a full disk.
  const [flatUntil, fullOn, start] = [3, 24, 0.4 * capacity];
  const perDayGrowth = (capacity - start) / (fullOn - flatUntil);
  const load = (day: number): number => start + Math.max(0, day - flatUntil) * perDayGrowth;
  // When each alert must fire, from the rules' own arithmetic (and its `for:`):
  const fullMark = disk.fullFraction * capacity;
  const reaches = (bytes: number): number => flatUntil + (bytes - start) / perDayGrowth;
  const ticketOn = reaches(fullMark - disk.ticketHorizonDays * perDayGrowth) + 1 / 24;
  const pageOn = reaches(fullMark - disk.pageHorizonDays * perDayGrowth) + 0.5 / 24;
  const fullPageOn = reaches(fullMark) + 2 / 1440;
  const margin = 0.1;
  const none: Check['firing'] = [];
  const growing = { alert: 'SessionStoreCassandraDiskGrowing', address: climbing };
  const fillingUp = { alert: 'SessionStoreCassandraDiskFillingUp', address: climbing };
  const full = { alert: 'SessionStoreCassandraDiskFull', address: climbing };
  const checks: Check[] = [
    { day: flatUntil, firing: none },
    { day: ticketOn - margin, firing: none },
    { day: ticketOn + margin, firing: [growing] },
    { day: pageOn - margin, firing: [growing] },
    { day: pageOn + margin, firing: [growing, fillingUp] },
    { day: fullPageOn - margin, firing: [growing, fillingUp] },
    { day: fullPageOn + margin, firing: [growing, full] },
  ];
  const { code, output } = await testDiskAlerts('the 2025-03-31 climb', everyNode(fullPageOn + 2 * margin, { [climbing]: load, [steady]: () => start }), checks);
  t.equal(code, 0, output);
  t.comment(`the ticket ${(fullOn - ticketOn).toFixed(1)} days before the disk is full, the page ${(fullOn - pageOn).toFixed(1)} days before, the full-disk page ${(fullOn - fullPageOn).toFixed(1)} days before (at ${disk.fullFraction * 100}%)`);
  t.ok(fullOn - pageOn >= disk.pageHorizonDays, `the page leaves at least ${disk.pageHorizonDays} days`);
  t.ok(fullOn - ticketOn >= disk.ticketHorizonDays, `the ticket at least ${disk.ticketHorizonDays}`);
});

void t.test('a quiet week: a daily compaction sawtooth, one node at 80% of its disk: no disk alert', async (t) => {
  // Each day the load grows by 2% of the disk and compaction and expiring TTLs take it back at midnight.
  const sawtooth = (base: number) => (day: number): number => base + (day % 1) * 0.02 * capacity;
  const days = 7;
  const checks: Check[] = Array.from({ length: days }, (_, i) => ({ day: i + 0.99, firing: [] }));
  const { code, output } = await testDiskAlerts('a quiet week', everyNode(days, { [climbing]: sawtooth(0.8 * capacity), [steady]: sawtooth(0.4 * capacity) }), checks);
  t.equal(code, 0, output);
});

void t.test('the guardrail\'s own word: STUFFED files the ticket, FULL pages, whatever the load says', async (t) => {
  const day = 1;
  const hours = (h: number): number => h / 24;
  const state = (name: string, from: number, until: number): { series: string; values: string }[] =>
    series('sessionstore_sidecar_cassandra_node_disk_usage_state', { address: climbing, state: name }, samples(day, (d) => (d >= from && d < until ? 1 : 0)));
  const input = [
    ...everyNode(day, { [climbing]: () => 0.5 * capacity }),
    ...state('spacious', 0, hours(2)), ...state('stuffed', hours(2), hours(10)), ...state('full', hours(10), 2),
  ];
  const checks: Check[] = [
    { day: hours(2.9), firing: [] },
    { day: hours(3.1), firing: [{ alert: 'SessionStoreCassandraDiskGrowing', address: climbing }] },
    { day: hours(9.9), firing: [{ alert: 'SessionStoreCassandraDiskGrowing', address: climbing }] },
    { day: hours(10.2), firing: [{ alert: 'SessionStoreCassandraDiskFull', address: climbing }] },
  ];
  const { code, output } = await testDiskAlerts('the guardrail', input, checks);
  t.equal(code, 0, output);
});
