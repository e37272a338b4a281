// What the demo shows when it is done: a summary table in the terminal, and a
// self-contained HTML report (Chart.js and its annotation plugin inlined; nothing is
// fetched when it opens) with the data beside it as JSON, for tests and for anyone
// who wants to chart it differently.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { disk } from '../../k8s/monitoring/alerts.ts';
import { dataCenter, secondDataCenter } from '../cluster/layout.ts';
import type { DiskClimb, RunResult, ScenarioResult } from './incidents.ts';

const seconds = (ms: number | null): string => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
const mebibytes = (bytes: number | null): number => Math.round(((bytes ?? 0) / 1024 / 1024) * 10) / 10;

export interface SummaryRow {
  scenario: string;
  run: string;
  'data center': string;
  'ok/s before': string;
  'ok/s during': string;
  'ok/s after': string;
  failed: string;
  'by the sidecar': number;
  detected: string;
  'users healed': string;
  restarts: number;
  'service exits': string;
  retries: number;
  'alerts fired': string;
}

/** What the columns mean, printed under the table. */
export const summaryLegend = [
  'ok/s: successful requests per second before the fault, during it, and after it ended.',
  'by the sidecar: failures the sidecars caused themselves (their own 503s while depooled, connections the balancer could not place).',
  'detected: from the fault (2022: node 2 back; 2023: node 1 back; 2025: the climb\'s start) to the sidecars\' diagnosis (stale_pool; the node named; the full disk named).',
  'users healed: from the fault until clients saw their last failure; "still failing" when they failed to the end. In 2023 the dry run heals only when the node is fixed.',
  'restarts: the services the sidecars restarted; service exits: how each service process ended, those restarts included (SIGTERM), and any the service made by itself (exit N).',
  'alerts fired: with the rules\' for: scaled by the lab (see the report for when production would page).',
];

export function summaryRows(results: ScenarioResult[]): SummaryRow[] {
  return results.flatMap((scenario) => scenario.runs.map((run: RunResult) => ({
    scenario: scenario.id,
    run: run.mode,
    'data center': run.dataCenter,
    'ok/s before': run.okPerSecond.before.toFixed(1),
    'ok/s during': run.okPerSecond.during.toFixed(1),
    'ok/s after': run.okPerSecond.after.toFixed(1),
    failed: `${run.failed} of ${run.sent} (${((100 * run.failed) / Math.max(1, run.sent)).toFixed(1)}%)`,
    'by the sidecar': run.causedBySidecar,
    detected: seconds(run.detectMs),
    'users healed': run.healMs === null ? 'still failing' : run.failed === 0 ? 'no failure' : seconds(run.healMs),
    restarts: run.restarts,
    'service exits': run.serviceExits.map((exit) => exit.signal ?? `exit ${exit.code ?? '?'}`).join(', ') || 'none',
    retries: run.retries,
    'alerts fired': [...new Set(run.alerts.map((a) => a.alert))].join(', ') || 'none',
  })));
}

const require = createRequire(import.meta.url);
/** A browser build that sits beside a package's CommonJS entry (its `exports` hide the file itself). */
const library = (name: string, file: string): string => readFileSync(join(dirname(require.resolve(name)), file), 'utf8');
/** Text that closes no <script> early. */
const scriptSafe = (text: string): string => text.replaceAll('</', '<\\/');
const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** Writes `file` (HTML) and the same data as `file` with .json; returns both paths. */
export function writeReport(file: string, results: ScenarioResult[]): { html: string; json: string } {
  const json = file.replace(/\.html?$/, '') + '.json';
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(json, JSON.stringify(results, null, 1));
  const rows = summaryRows(results);
  const table = `<table><tr>${Object.keys(rows[0] ?? {}).map((k) => `<th>${escape(k)}</th>`).join('')}</tr>${rows.map((row) =>
    `<tr>${Object.values(row).map((v) => `<td>${escape(String(v))}</td>`).join('')}</tr>`).join('')}</table>`;
  const sections = results.map((scenario, s) => {
    const t0 = scenario.startedAt;
    const at = (ms: number): string => `+${((ms - t0) / 1000).toFixed(1)} s`;
    const runs = scenario.runs.map((run, r) => `
      <div class="run"><h3>${escape(runTitle(scenario, run))}</h3>
      <canvas id="chart-${s}-${r}"></canvas>
      ${run.disk ? `<h4>The climb: node ${escape(run.disk.address)}'s load against its disk, as its sidecar read it</h4><canvas id="disk-${s}-${r}"></canvas>` : ''}
      ${viewTable(run)}
      <h4>Failed requests, by phase</h4>${failureTable(run)}
      <h4>Alerts fired</h4>${alertTable(run, t0)}</div>`).join('');
    const timeline = scenario.events.map((e) => `<tr class="${e.kind}"><td>${at(e.at)}</td><td>${escape(e.fleet ?? 'cluster')}</td><td>${escape(e.text)}</td></tr>`).join('');
    return `<section><h2>${escape(scenario.title)}</h2><p>${escape(scenario.incident)}. Fault from ${at(scenario.faultAt)} to ${at(scenario.faultEndAt)}.</p>
      <div class="runs">${runs}</div>
      <details><summary>Timeline (${scenario.events.length} events)</summary><table class="timeline">${timeline}</table></details></section>`;
  }).join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessionstore-sidecar: the demo's report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
.runs { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 2em; } .run table { font-size: 12px; }
tr.fault td { background: #fde2e2; } tr.alert td { background: #fff3cd; } tr.endpoints td { color: #666; }
</style></head><body>
<h1>sessionstore-sidecar: the session store's outages, replayed with and without the sidecar</h1>
<p>Generated ${new Date().toISOString()} by <code>npm run demo</code>. The 2022 and 2023 scenarios ran two fleets side by side over one local Cassandra cluster, under the same fault at the same moment; 2025 one fleet, acting, on a climb nothing saw in production.${results.some((r) => r.dataCenters === 2)
    ? ` On two data centers (<code>--dcs 2</code>), the fault is in ${dataCenter}'s nodes, and a third fleet, acting, ran in ${secondDataCenter} under the same traffic: what the other data center sees.` : ''}</p>
${table}${sections}
<script>${scriptSafe(library('chart.js', 'chart.umd.min.js'))}</script>
<script>${scriptSafe(library('chartjs-plugin-annotation', 'chartjs-plugin-annotation.min.js'))}</script>
<script>
const results = ${scriptSafe(JSON.stringify(results.map(chartData)))};
Chart.register(window['chartjs-plugin-annotation']);
results.forEach((scenario, s) => scenario.runs.forEach((run, r) => {
  const annotations = {};
  scenario.phases.forEach((p, i) => { annotations['p' + i] = { type: 'box', xMin: p.from, xMax: p.to, backgroundColor: i % 2 ? 'rgba(0,0,0,0.03)' : 'rgba(0,0,0,0.07)', borderWidth: 0,
    label: { display: true, content: p.name, position: { x: 'center', y: 'start' }, font: { size: 9 } } }; });
  run.marks.forEach((m, i) => { annotations['m' + i] = { type: 'line', xMin: m.at, xMax: m.at, borderColor: m.kind === 'fault' ? '#c00' : m.kind === 'alert' ? '#d80' : '#06c', borderWidth: 1,
    label: { display: true, content: m.text, position: 'end', rotation: -90, font: { size: 8 }, backgroundColor: 'rgba(255,255,255,0.8)', color: '#333' } }; });
  new Chart(document.getElementById('chart-' + s + '-' + r), {
    type: 'line',
    data: { datasets: [
      { label: 'successful requests/s', data: run.ok, borderColor: '#2a2', pointRadius: 0, borderWidth: 1.5 },
      { label: 'failed requests/s', data: run.failed, borderColor: '#d22', backgroundColor: 'rgba(220,30,30,0.2)', fill: true, pointRadius: 0, borderWidth: 1.5 },
    ] },
    options: { animation: false, parsing: false, aspectRatio: 1.6, scales: { x: { type: 'linear', min: 0, title: { display: true, text: 'seconds since the scenario began' } }, y: { beginAtZero: true, title: { display: true, text: 'requests/s' } } },
      plugins: { annotation: { annotations } } },
  });
  if (!run.disk) return;
  // The faults, the alerts and the sidecars' word on the disk.
  const alertMarks = {};
  run.marks.forEach((m, i) => { if (m.kind !== 'sidecar' || m.text.includes('disk')) alertMarks['m' + i] = annotations['m' + i]; });
  new Chart(document.getElementById('disk-' + s + '-' + r), {
    type: 'line',
    data: { datasets: [
      { label: 'load (MiB)', data: run.disk.load, borderColor: '#06c', pointRadius: 0, borderWidth: 1.5 },
      { label: 'full: ${disk.fullFraction * 100}% of its disk (MiB)', data: run.disk.full, borderColor: '#c00', borderDash: [4, 3], pointRadius: 0, borderWidth: 1 },
    ] },
    options: { animation: false, parsing: false, aspectRatio: 1.6, scales: { x: { type: 'linear', min: 0, title: { display: true, text: 'seconds since the scenario began' } }, y: { title: { display: true, text: 'MiB' } } },
      plugins: { annotation: { annotations: alertMarks } } },
  });
}));
</script></body></html>`;
  writeFileSync(file, html);
  return { html: file, json };
}

/** Per run: points relative to the scenario's start, and the marks worth a line on the chart. */
function chartData(scenario: ScenarioResult): unknown {
  const t0 = scenario.startedAt;
  const x = (ms: number): number => Math.round((ms - t0) / 100) / 10;
  const marked = /^(node \d (stops|serves)|sidecars see: Cassandra node|.*(divergence: |graceful restart finished|dry run: would restart)|Prometheus: )/;
  return {
    // The phases under traffic: not the fleets' start-up nor the collection after.
    phases: scenario.phases.filter((p) => p.to > t0 && p.name !== 'collect').map((p) => ({ name: p.name, from: x(p.from), to: x(p.to) })),
    runs: scenario.runs.map((run) => ({
      ok: run.perSecond.map((p) => ({ x: x(p.second * 1000), y: p.ok })),
      failed: run.perSecond.map((p) => ({ x: x(p.second * 1000), y: p.failed })),
      marks: scenario.events.filter((e) => (e.fleet === null || e.fleet === run.fleet) && marked.test(e.text))
        .map((e) => ({ at: x(e.at), kind: e.kind, text: e.text.length > 48 ? `${e.text.slice(0, 47)}…` : e.text })),
      disk: run.disk === null ? null : diskChart(run.disk, x),
    })),
  };
}

/** The climb on the small disk: readings of the node's load from the moment its sidecar read the small disk's size (before, it still knew the old one). */
function diskChart(climb: DiskClimb, x: (ms: number) => number): { load: { x: number; y: number }[]; full: { x: number; y: number }[] } {
  const capacity = climb.points.at(-1)?.capacityBytes ?? null;
  const onSmallDisk = climb.points.filter((p) => p.loadBytes !== null && capacity !== null && p.capacityBytes === capacity);
  return {
    load: onSmallDisk.map((p) => ({ x: x(p.at), y: mebibytes(p.loadBytes) })),
    full: onSmallDisk.map((p) => ({ x: x(p.at), y: mebibytes((capacity ?? 0) * disk.fullFraction) })),
  };
}

function runTitle(scenario: ScenarioResult, run: RunResult): string {
  const what = run.mode === 'acting' ? 'Acting: the sidecars as shipped' : 'Dry run: what happened (no retries, no restarts)';
  if (scenario.dataCenters === 1) return what;
  return `${run.dataCenter}, ${run.dataCenter === dataCenter ? 'where the fault is' : 'the other data center'} — ${what}`;
}

function failureTable(run: RunResult): string {
  const phases = Object.entries(run.failuresByPhase);
  if (phases.length === 0) return '<p>none</p>';
  return `<table><tr><th>phase</th><th>failed</th></tr>${phases.map(([phase, counts]) =>
    `<tr><td>${escape(phase)}</td><td>${escape(Object.entries(counts).map(([what, n]) => `${n} × ${what}`).join(', '))}</td></tr>`).join('')}</table>`;
}

function viewTable(run: RunResult): string {
  const view = run.view;
  if (!view) return '<p>The sidecars did not diagnose this fault in this run.</p>';
  const rows = view.nodes.map((n) => `<tr><td>${escape(n.address)}</td><td>${n.reachable ? 'reachable' : 'unreachable'}</td>
    <td>${n.canCoordinateLocalQuorum === null ? '?' : n.canCoordinateLocalQuorum ? 'yes' : `no: ${escape(n.canaryError ?? '')}`}</td>
    <td>${escape(n.unheardPeers?.join(', ') ?? '')}</td><td>${view.servicePool ? String(view.servicePool[n.address] ?? 0) : '?'}</td></tr>`).join('');
  return `<h4>At detection (${escape(view.pod)}): the sidecar's view and the service's pool</h4>
    <table><tr><th>node</th><th>sidecar's probe</th><th>coordinates LOCAL_QUORUM</th><th>peers it cannot hear</th><th>service's connections</th></tr>${rows}</table>`;
}

function alertTable(run: RunResult, t0: number): string {
  if (run.alerts.length === 0) return '<p>none</p>';
  const at = (ms: number | null): string => (ms === null ? 'would not (condition too short)' : `+${((ms - t0) / 1000).toFixed(1)} s`);
  return `<table><tr><th>alert</th><th>for</th><th>severity</th><th>condition from</th><th>fired (lab for: scaled)</th><th>production for: would fire</th></tr>${run.alerts.map((a) =>
    `<tr><td>${escape(a.alert)}</td><td>${escape(a.labels.address ?? a.labels.instance ?? a.labels.job ?? '')}</td><td>${escape(a.labels.severity ?? '')}</td><td>${at(a.activeAt)}</td><td>${at(a.firedAt)}</td><td>${at(a.productionFiringAt)}</td></tr>`).join('')}</table>`;
}
