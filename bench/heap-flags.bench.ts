// node bench/heap-flags.bench.ts ["FLAGS;FLAGS;…"]: the production build under the same
// load with different NODE_OPTIONS, side by side, pinned as in proxy.bench.ts (sidecar
// on CPU 1, upstream and load on CPU 0): CPU per 1,000 requests, p99, p99.9 and the event
// loop's longest stall open loop at 1,000 and 3,000 requests/s for 20 s each, then RSS and
// throughput after 8 s saturated (wrk). Run `npm run build` first. Default variants:
// none, the image's, and two others. (docs/benchmarks.md compares the image's flags with
// none in bench/tail.bench.ts's run.)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { findProgram, removeWorkFiles, start, startNginxUpstream, writeSidecarConfig } from '../lab/reference-proxies.ts';
import { cpuSeconds, ensureOpenLoop, eventLoopStallMaxMs, memoryMb, openLoop, openLoopWarmupSeconds, wrk } from './measure.ts';

const variants = (process.argv[2] ?? `;${dockerfileEnv('NODE_OPTIONS')};--max-old-space-size=96 --max-semi-space-size=16;--max-old-space-size=64 --max-semi-space-size=8`).split(';');
const nginx = findProgram('nginx');
if (!nginx) {
  console.error('missing: nginx-light; install with: apt-get install -y nginx-light');
  process.exit(2);
}
ensureOpenLoop((line) => { console.error(`# ${line}`); });
await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
try {
  console.log('| NODE_OPTIONS | rate | CPU s / 1k req | p99 µs | p99.9 µs | longest stall ms | RSS MB after saturation | saturation req/s (wrk) |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const flags of variants) {
    const [port, admin] = [await freePort(), await freePort()];
    const config = writeSidecarConfig(port, admin, upstream, { contact_points: ['127.0.0.1'], ...adminCredentials() });
    const sidecar = await start('sidecar', process.execPath, [join(import.meta.dirname, '../dist/cli.js'), '--config', config], port, { cpu: 1, env: { NODE_OPTIONS: flags, NODE_ENV: 'production' } });
    try {
      const adminUrl = `http://127.0.0.1:${admin}`;
      await sleep(4000);
      const rows: string[] = [];
      for (const rate of [1000, 3000]) {
        await eventLoopStallMaxMs(adminUrl); // resets the maximum
        const cpuBefore = cpuSeconds(sidecar.pid);
        const steady = await openLoop(sidecar.url, rate, 20, 0);
        const cpuPer1000 = ((cpuSeconds(sidecar.pid) - cpuBefore) / (rate * (20 + openLoopWarmupSeconds))) * 1000;
        rows.push(`${rate} | ${cpuPer1000.toFixed(3)} | ${steady.p99Us} | ${steady.p999Us} | ${await eventLoopStallMaxMs(adminUrl)}`);
      }
      const saturated = await wrk(sidecar.url, 64, 8, 0);
      for (const row of rows) console.log(`| ${flags ? `\`${flags}\`` : 'none'} | ${row} | ${memoryMb(sidecar.pid).rss} | ${saturated.requestsPerSecond} |`);
    } finally {
      sidecar.stop();
    }
  }
} finally {
  upstream.stop();
  removeWorkFiles();
}
