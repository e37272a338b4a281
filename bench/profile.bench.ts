// node bench/profile.bench.ts: where the sidecar's CPU goes per request. Run `npm run
// build` first; the cluster must be up (`npm run cluster -- up`).
//   The production build (dist/cli.js, the image's NODE_OPTIONS) alone on CPU 1, its
//   probes against the real cluster, under an open-loop load of PROFILE_RATE (3000)
//   requests/s for PROFILE_SECONDS (20) from nginx's upstream (all else on CPU 0, as in
//   tail.bench.ts), with V8's sampling profiler on (--cpu-prof). Then the self time of
//   every sampled function, per 1,000 requests, summed by where its code lives: the
//   sidecar's own files, each npm package, Node's internals by module, the collector,
//   V8 itself. The start-up and the idle seconds before the load are left out.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { removeWorkFiles, start, startNginxUpstream, writeSidecarConfig } from '../lab/reference-proxies.ts';
import { ensureOpenLoop, nginxBesideRunningCluster, openLoop, sidelineCluster } from './measure.ts';

const rate = Number(process.env.PROFILE_RATE ?? 3000);
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
function selfTimes(profile: CpuProfile, fromUs: number): { byPlace: Map<string, number>; byFunction: Map<string, number>; totalUs: number } {
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

const nginx = await nginxBesideRunningCluster();
ensureOpenLoop(log);
await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const unsidelineCluster = await sidelineCluster(0);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
const work = join(root, '.cache', 'profile-bench');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
let profile: CpuProfile;
let loadBeganUs: number;
let measured: Awaited<ReturnType<typeof openLoop>>;
try {
  const [port, admin] = [await freePort(), await freePort()];
  const config = writeSidecarConfig(port, admin, upstream, { contact_points: ['127.0.0.1'], ...adminCredentials() });
  const began = performance.now();
  const sidecar = await start('sidecar', process.execPath, ['--cpu-prof', `--cpu-prof-dir=${work}`, join(root, 'dist/cli.js'), '--config', config], port, {
    cpu: 1, env: { NODE_OPTIONS: dockerfileEnv('NODE_OPTIONS'), NODE_ENV: 'production' },
  });
  await sleep(5000); // start-up, first probes and first look at the service
  // The profile's clock starts with the process, about when `began` was taken: what ran before the load is dropped.
  loadBeganUs = (performance.now() - began) * 1000;
  measured = await openLoop(sidecar.url, rate, seconds, 0);
  log(`${measured.sent} requests at ${rate}/s, ${measured.failed} failed; p50 ${measured.p50Us} µs, p99 ${measured.p99Us} µs`);
  // SIGTERM: it drains and exits, and V8 writes the profile on the way out.
  process.kill(sidecar.pid, 'SIGTERM');
  for (let i = 0; ; i++) {
    const written = readdirSync(work).find((f) => f.endsWith('.cpuprofile'));
    if (written !== undefined) {
      await sleep(500);
      profile = JSON.parse(readFileSync(join(work, written), 'utf8')) as CpuProfile;
      break;
    }
    if (i > 600) throw new Error('the sidecar wrote no profile within a minute of SIGTERM');
    await sleep(100);
  }
} finally {
  upstream.stop();
  removeWorkFiles();
  await unsidelineCluster();
}

const { byPlace, byFunction, totalUs } = selfTimes(profile, loadBeganUs);
// The generator's warm-up is load too: every request sent counts.
const requests = measured.sent + rate * 2;
const perThousand = (us: number): string => (us / 1000 / (requests / 1000)).toFixed(2);
const top = (map: Map<string, number>, n: number): [string, number][] => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`CPU of the sidecar under ${rate} requests/s open loop (${seconds} s and the warm-up), sampled by V8: ${perThousand(totalUs)} ms per 1,000 requests in all, by where the code lives (self time):\n`);
console.log('| where | ms per 1,000 requests | share |\n|---|---:|---:|');
for (const [place, us] of top(byPlace, 25)) console.log(`| ${place} | ${perThousand(us)} | ${((us / totalUs) * 100).toFixed(1)}% |`);
console.log('\nThe functions that cost most (self time):\n');
console.log('| function | ms per 1,000 requests | share |\n|---|---:|---:|');
for (const [name, us] of top(byFunction, 40)) console.log(`| \`${name}\` | ${perThousand(us)} | ${((us / totalUs) * 100).toFixed(1)}% |`);
console.log(`\nThe profile: ${work}`);
