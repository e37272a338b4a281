// A real Prometheus server (Debian's `prometheus` package) for the lab: it scrapes
// sidecars' admin ports every second with the shipped alert rules loaded, their time
// scaled as k8s/monitoring/alerts.ts documents (`for:`; the disk alerts' days). Every alert's
// life is recorded from Prometheus's own API: when its condition began to hold
// (activeAt), when it fired, and when it resolved.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { stringify } from 'yaml';
import { alertRules, ruleGroups, sidecarJob, type RuleTimeScale } from '../k8s/monitoring/alerts.ts';
import { stopChild, temporaryDirectory, type Cleanup } from './cleanup.ts';
import { freePort } from './net.ts';

/** How the lab shortens `for:` (2m becomes 6s): a replay lasts seconds, not minutes. */
export const labForScale = 0.05;

export interface AlertLife {
  alert: string;
  labels: Record<string, string>;
  /** Epoch ms: when the condition began to hold, as Prometheus says. */
  activeAt: number;
  /** Epoch ms: when it was first seen firing (with the scaled `for:`), or null. */
  firedAt: number | null;
  /** Epoch ms: when it was first seen gone again, or null while it lasts. */
  resolvedAt: number | null;
}

export interface PrometheusServer {
  url: string;
  /** Every alert seen so far, pending or firing, in the order they began. */
  alertLives(): AlertLife[];
  /** An instant query; throws with Prometheus's error when it does not parse. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /**
   * When an alert would have fired with its production `for:` (epoch ms), or null when
   * its condition did not hold that long: what production would have paged.
   */
  productionFiring(life: AlertLife): number | null;
  /** The alerts of severity page that production would have sent: their full `for:` held. */
  productionPages(): AlertLife[];
  /** An alert's life in words, relative to `from` (epoch ms): when its condition began, how long it held, its production `for:`. */
  describe(life: AlertLife | undefined, from: number): string;
  stop(): Promise<void>;
}

interface ApiAlert { labels: Record<string, string>; state: 'pending' | 'firing'; activeAt: string }

export async function startPrometheus(t: Cleanup, targets: string[], scale: RuleTimeScale = { for: labForScale }): Promise<PrometheusServer> {
  const dir = temporaryDirectory(t, 'prometheus-');
  const port = await freePort();
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: ruleGroups(scale) }, { lineWidth: 0 }));
  writeFileSync(join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(dir, 'rules.yaml')],
    scrape_configs: [{ job_name: sidecarJob, static_configs: [{ targets }] }],
  }));
  const child = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => { log = (log + chunk.toString()).slice(-4000); });
  const stop = async (): Promise<void> => { await stopChild(child, 'prometheus', 10_000); };
  t.teardown(stop);
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const response = await request(`${url}${path}`);
    const body = (await response.body.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.statusCode}`);
    return body.data;
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
    const ready = await request(`${url}/-/ready`).then(async (r) => { await r.body.dump(); return r.statusCode === 200; }, () => false);
    if (ready) break;
    if (i > 100) throw new Error(`prometheus not ready after 10 s: ${log}`);
    await sleep(100);
  }

  // Every alert's life, from the API, every 250 ms.
  const lives: AlertLife[] = [];
  const key = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).sort());
  const watching = new AbortController();
  const watch = (async () => {
    while (!watching.signal.aborted) {
      const now = Date.now();
      const seen = await api<{ alerts: ApiAlert[] }>('/api/v1/alerts').then((d) => d.alerts, () => null);
      if (seen !== null) {
        const current = new Set(seen.map((a) => key(a.labels)));
        for (const a of seen) {
          const activeAt = Date.parse(a.activeAt);
          let life = lives.find((l) => key({ alertname: l.alert, ...l.labels }) === key(a.labels) && l.resolvedAt === null);
          if (!life) {
            const { alertname = '', ...labels } = a.labels;
            life = { alert: alertname, labels, activeAt, firedAt: null, resolvedAt: null };
            lives.push(life);
          }
          if (a.state === 'firing' && life.firedAt === null) life.firedAt = now;
        }
        for (const life of lives) if (life.resolvedAt === null && !current.has(key({ alertname: life.alert, ...life.labels }))) life.resolvedAt = now;
      }
      await sleep(250);
    }
  })();
  t.teardown(async () => { watching.abort(); await watch; });

  // Production's `for:`; the disk alerts' at the replay's scale, which is their whole time.
  const rules = alertRules(scale.disk);
  const productionForMs = (alert: string): number => (rules.find((a) => a.alert === alert)?.forSeconds ?? 0) * 1000;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const productionFiringOf = (life: AlertLife): number | null => {
    const forMs = productionForMs(life.alert);
    return (life.resolvedAt ?? Date.now()) - life.activeAt >= forMs ? life.activeAt + forMs : null;
  };
  return {
    url,
    alertLives: () => lives.map((l) => ({ ...l })),
    query: async (expr) => (await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    productionFiring: productionFiringOf,
    productionPages: () => lives.filter((life) => life.labels.severity === 'page' && productionFiringOf(life) !== null).map((l) => ({ ...l })),
    describe: (life, from) => {
      if (!life) return 'never pending';
      const held = (life.resolvedAt ?? Date.now()) - life.activeAt;
      return `condition from ${seconds(life.activeAt - from)}, held ${seconds(held)}${life.resolvedAt === null ? ' (still holding)' : ''}; ` +
        `with production for: ${seconds(productionForMs(life.alert))} it fires at ${seconds(life.activeAt + productionForMs(life.alert) - from)} if it holds that long`;
    },
    stop,
  };
}
