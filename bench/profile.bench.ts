// node bench/profile.bench.ts: where the sidecar's CPU goes per request, beside the
// floor's. Run `npm run build` first; the cluster must be up (`npm run cluster -- up`).
//   The production build (dist/cli.js, the image's NODE_OPTIONS), then the minimal Node
//   proxy, each alone on CPU 1 (the sidecar's probes against the real cluster), under an
//   open-loop load of PROFILE_RATE (1000) requests/s for PROFILE_SECONDS (20) from
//   nginx's upstream (all else on CPU 0, as in tail.bench.ts), with V8's sampling
//   profiler on (--cpu-prof). Then the self time of every sampled function, per 1,000
//   requests, summed by where its code lives (the sidecar's own files, each npm
//   package, Node's internals by module, the collector, V8 itself), for both and their
//   difference: what the sidecar costs above the floor, and where. The start-up and the
//   idle seconds before the load are left out.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { removeWorkFiles, start, startNginxUpstream, writeSidecarConfig } from '../lab/reference-proxies.ts';
import { ensureOpenLoop, nginxBesideRunningCluster, openLoop, openLoopWarmupSeconds, sidelineCluster } from './measure.ts';

const rate = Number(process.env.PROFILE_RATE ?? 1000);
const seconds = Number(process.env.PROFILE_SECONDS ?? 20);
const root = join(import.meta.dirname, '..');
const log = (line: string): void => { console.error(`# ${line}`); };

/** The parts of a V8 .cpuprofile this reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code lives: the sidecar's file, an npm package, a Node module, or V8's own pseudo-frames. */
function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName === '' ? '(anonymous native)' : functionName.startsWith('(') ? functionName : `native ${functionName}`;
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (packageMatch) return `npm ${packageMatch[1] ?? ''}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(deps\/)?/, 'node ').replace(/^node:/, 'node ').replace(/\/.*$/, '');
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(root) ? relative(root, path) : path;
}

/** Self time (µs) by function and by place, over the samples taken after `fromUs` (µs since the profile began). */
function selfTimes(profile: CpuProfile, fromUs: number): Omit<Profiled, 'requests'> {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = 0;
  let totalUs = 0;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const frame = frames.get(id);
    if (at < fromUs || frame === undefined || frame.functionName === '(idle)') continue;
    const place = placeOf(frame.url, frame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + delta);
    const name = `${frame.functionName || '(anonymous)'} ${place}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    totalUs += delta;
  }
  return { byPlace, byFunction, totalUs };
}

interface Profiled { byPlace: Map<string, number>; byFunction: Map<string, number>; totalUs: number; requests: number }

/** Starts one target with the profiler on, loads it, stops it with SIGTERM (V8 writes the profile on the way out) and reads the profile. */
async function profileOf(name: string, args: (port: number) => string[], dir: string): Promise<Profiled> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const began = performance.now();
  const target = await start(name, process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...args(port)], port, {
    cpu: 1, env: { NODE_OPTIONS: dockerfileEnv('NODE_OPTIONS'), NODE_ENV: 'production' },
  });
  await sleep(5000); // start-up, and the sidecar's first probes and first look at the service
  // The profile's clock starts with the process, about when `began` was taken: what ran before the load is dropped.
  const loadBeganUs = (performance.now() - began) * 1000;
  const measured = await openLoop(target.url, rate, seconds, 0);
  log(`${name}: ${measured.sent} requests at ${rate}/s, ${measured.failed} failed; p50 ${measured.p50Us} µs, p99 ${measured.p99Us} µs`);
  process.kill(target.pid, 'SIGTERM');
  for (let i = 0; ; i++) {
    const written = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (written !== undefined) {
      await sleep(500); // written whole
      // The generator's warm-up is load too: every request sent counts.
      return { ...selfTimes(JSON.parse(readFileSync(join(dir, written), 'utf8')) as CpuProfile, loadBeganUs), requests: measured.sent + rate * openLoopWarmupSeconds };
    }
    if (i > 600) throw new Error(`${name} wrote no profile within a minute of SIGTERM`);
    await sleep(100);
  }
}

const nginx = await nginxBesideRunningCluster();
ensureOpenLoop(log);
await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const unsidelineCluster = await sidelineCluster(0);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
const work = join(root, '.cache', 'profile-bench');
rmSync(work, { recursive: true, force: true });
let sidecar: Profiled;
let floor: Profiled;
try {
  const admin = await freePort();
  const config = (port: number): string => writeSidecarConfig(port, admin, upstream, { contact_points: ['127.0.0.1'], ...adminCredentials() });
  sidecar = await profileOf('sidecar', (port) => [join(root, 'dist/cli.js'), '--config', config(port)], join(work, 'sidecar'));
  floor = await profileOf('the floor (minimal Node proxy)', (port) => [join(root, 'bench/minimal-proxy.ts'), String(port), upstream.url], join(work, 'floor'));
} finally {
  upstream.stop();
  removeWorkFiles();
  await unsidelineCluster();
}

const perThousand = (us: number, of: Profiled): number => us / 1000 / (of.requests / 1000);
const ms = (value: number): string => value.toFixed(2);
console.log(`CPU under ${rate} requests/s open loop (${seconds} s and the warm-up), sampled by V8, in ms per 1,000 requests: the sidecar ${ms(perThousand(sidecar.totalUs, sidecar))}, the floor ${ms(perThousand(floor.totalUs, floor))}. By where the code lives (self time), largest difference first:\n`);
console.log('| where | sidecar | floor | difference | sidecar\'s share |\n|---|---:|---:|---:|---:|');
const places = [...new Set([...sidecar.byPlace.keys(), ...floor.byPlace.keys()])].map((place) => {
  const [own, base] = [perThousand(sidecar.byPlace.get(place) ?? 0, sidecar), perThousand(floor.byPlace.get(place) ?? 0, floor)];
  return { place, own, base, share: (sidecar.byPlace.get(place) ?? 0) / sidecar.totalUs };
}).sort((a, b) => (b.own - b.base) - (a.own - a.base));
for (const p of places.slice(0, 25)) console.log(`| ${p.place} | ${ms(p.own)} | ${ms(p.base)} | ${ms(p.own - p.base)} | ${(p.share * 100).toFixed(1)}% |`);
console.log('\nThe sidecar\'s costliest functions (self time):\n');
console.log('| function | ms per 1,000 requests | share |\n|---|---:|---:|');
for (const [name, us] of [...sidecar.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`| \`${name}\` | ${ms(perThousand(us, sidecar))} | ${((us / sidecar.totalUs) * 100).toFixed(1)}% |`);
}
console.log(`\nThe profiles (Chrome's DevTools open them): ${work}`);
