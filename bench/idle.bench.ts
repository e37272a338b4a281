// node bench/idle.bench.ts: where an idle sidecar's CPU and memory go. Run
// `npm run build` first; the cluster must be up (`npm run cluster -- up`).
//   CPU: the production build with the image's NODE_OPTIONS, pinned to CPU 1, idle
//   beside the real cluster, its background work switched off one part at a time (all
//   on; probes once a minute; and the service's pool read once a minute; and the
//   reconciler once a minute). The differences attribute the idle CPU to each part.
//   IDLE_ROUNDS (2) rounds, interleaved, of IDLE_SECONDS (30) each; medians.
//   The event loop's lag sampling alone, in a bare Node process: prom-client's default
//   10 ms against the sidecar's 50 ms.
//   Memory: the floors under the image's flags (a bare node; node with the sidecar's
//   libraries loaded; with its own modules loaded too) against the idle sidecar.
// The numbers in docs/benchmarks.md come from it.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { removeWorkFiles, start, startNginxUpstream, writeSidecarConfig } from '../lab/reference-proxies.ts';
import { cpuSeconds, memoryMb, nginxBesideRunningCluster, summary } from './measure.ts';

const seconds = Number(process.env.IDLE_SECONDS ?? 30);
const rounds = Number(process.env.IDLE_ROUNDS ?? 2);
const root = join(import.meta.dirname, '..');
const nodeOptions = dockerfileEnv('NODE_OPTIONS');
const env = { NODE_OPTIONS: nodeOptions, NODE_ENV: 'production' };
const rarely = 60_000;
const log = (line: string): void => { console.error(`# ${line}`); };

const nginx = await nginxBesideRunningCluster();

interface Variant { name: string; probeMs?: number; observeMs?: number; reconcileMs?: number }
const variants: Variant[] = [
  { name: 'all on (shipped defaults)' },
  { name: 'probes once a minute', probeMs: rarely },
  { name: '… and the pool read once a minute', probeMs: rarely, observeMs: rarely },
  { name: '… and the reconciler once a minute', probeMs: rarely, observeMs: rarely, reconcileMs: rarely },
];

await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
const cpuMsPerS = new Map<string, number[]>(variants.map((v) => [v.name, []]));
let idleMemory = { rss: NaN, anon: NaN };
try {
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const [port, admin] = [await freePort(), await freePort()];
      const cassandra = { contact_points: ['127.0.0.1'], ...adminCredentials(), ...(variant.probeMs ? { probe: { interval_ms: variant.probeMs } } : {}) };
      const config = writeSidecarConfig(port, admin, upstream, cassandra, {
        ...(variant.observeMs ? { service: { observe_interval_ms: variant.observeMs } } : {}),
        ...(variant.reconcileMs ? { reconcile: { interval_ms: variant.reconcileMs } } : {}),
      });
      const sidecar = await start('sidecar', process.execPath, [join(root, 'dist/cli.js'), '--config', config], port, { cpu: 1, env });
      try {
        await sleep(8000); // start-up, first probes and first look at the service
        const before = cpuSeconds(sidecar.pid);
        await sleep(seconds * 1000);
        cpuMsPerS.get(variant.name)?.push(((cpuSeconds(sidecar.pid) - before) / seconds) * 1000);
        if (variant === variants[0]) idleMemory = memoryMb(sidecar.pid);
        log(`round ${round}: ${variant.name}: ${cpuMsPerS.get(variant.name)?.at(-1)?.toFixed(1)} ms/s`);
      } finally {
        sidecar.stop();
      }
    }
  }
} finally {
  upstream.stop();
  removeWorkFiles();
}

/** A Node process under the image's flags that runs `code` (an ES module), then reports its CPU per second or its memory. */
async function nodeAlone(code: string, measure: 'cpu' | 'memory', forMs: number): Promise<string> {
  const report = measure === 'cpu'
    ? `const t0 = process.cpuUsage(); setTimeout(() => { const u = process.cpuUsage(t0); console.log(((u.user + u.system) / ${forMs}).toFixed(1)); process.exit(0); }, ${forMs});`
    : `const { readFileSync } = await import('node:fs'); setTimeout(() => { const s = readFileSync('/proc/self/status', 'utf8'); ` +
      `const mb = (f) => (Number(s.split(f + ':')[1].trim().split(' ')[0]) / 1024).toFixed(1); console.log(mb('VmRSS') + ' MB (' + mb('RssAnon') + ' MB private)'); }, ${forMs});`;
  const child = spawn('taskset', ['-c', '1', process.execPath, '--input-type=module', '-e', `${code}\n${report}`], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  await new Promise((resolve) => child.once('exit', resolve));
  return out.trim();
}

const libraries = ['undici', 'cassandra-driver', 'pino', 'prom-client', 'opossum', 'zod', 'yaml'];
const importAll = (modules: string[]): string => modules.map((m) => `await import('${m}');`).join(' ');
const sampling = (ms: number): string => `(await import('node:perf_hooks')).monitorEventLoopDelay({ resolution: ${ms} }).enable(); setInterval(() => {}, 1e6);`;
const lag10 = await nodeAlone(sampling(10), 'cpu', 10_000);
const lag50 = await nodeAlone(sampling(50), 'cpu', 10_000);
const floors = [
  ['node alone', await nodeAlone('', 'memory', 2000)],
  [`node with ${libraries.join(', ')} loaded`, await nodeAlone(importAll(libraries), 'memory', 2000)],
  ['… and the sidecar\'s own modules (dist/main.js)', await nodeAlone(importAll([...libraries, './dist/main.js']), 'memory', 2000)],
  [`the sidecar, idle for ${seconds} s beside the cluster`, `${idleMemory.rss} MB (${idleMemory.anon} MB private)`],
];

const median = (name: string): number => summary(cpuMsPerS.get(name) ?? []).median;
const spread = (name: string): string => { const s = summary(cpuMsPerS.get(name) ?? []); return `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`; };
console.log(`Idle CPU of the sidecar (ms per second; median of ${rounds}, min–max; NODE_OPTIONS \`${nodeOptions}\`):\n`);
console.log('| background work | idle CPU ms/s | the part switched off cost |\n|---|---:|---:|');
variants.forEach((variant, i) => {
  const previous = variants[i - 1];
  console.log(`| ${variant.name} | ${spread(variant.name)} | ${previous ? (median(previous.name) - median(variant.name)).toFixed(1) : '–'} |`);
});
console.log(`\nThe event loop's lag sampling alone, in a bare Node process: every 10 ms (prom-client's default) ${lag10} ms/s; every 50 ms (the sidecar's) ${lag50} ms/s.\n`);
console.log('| memory under the image\'s flags | RSS |\n|---|---:|');
for (const [what, value] of floors) console.log(`| ${what} | ${value} |`);
