// node bench/heap-flags.bench.ts ["FLAGS;FLAGS;…"]: the production build under the same
// load with different NODE_OPTIONS, side by side, pinned as in proxy.bench.ts (sidecar
// on CPU 1, upstream and load on CPU 0): CPU per 1,000 requests, p99 and the event
// loop's lag maximum at 1,000 requests/s for 20 s, then RSS and throughput after 8 s
// saturated. Run `npm run build` first. Default variants: none, the image's, and two
// others. The numbers in docs/benchmarks.md come from it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { findProgram, removeWorkFiles, start, startNginxUpstream, writeSidecarConfig } from '../lab/reference-proxies.ts';
import { autocannonRun, cpuSeconds, eventLoopLagMaxMs, memoryMb } from './measure.ts';

const variants = (process.argv[2] ?? `;${dockerfileEnv('NODE_OPTIONS')};--max-old-space-size=96 --max-semi-space-size=16;--max-old-space-size=64 --max-semi-space-size=8`).split(';');
const nginx = findProgram('nginx');
if (!nginx) {
  console.error('missing: nginx-light; install with: apt-get install -y nginx-light');
  process.exit(2);
}
await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
try {
  console.log('| NODE_OPTIONS | CPU s / 1k req | p99 ms | lag max ms | RSS MB after saturation | saturation req/s |\n|---|---:|---:|---:|---:|---:|');
  for (const flags of variants) {
    const [port, admin] = [await freePort(), await freePort()];
    const config = writeSidecarConfig(port, admin, upstream, { contact_points: ['127.0.0.1'], ...adminCredentials() });
    const sidecar = await start('sidecar', process.execPath, [join(import.meta.dirname, '../dist/cli.js'), '--config', config], port, { cpu: 1, env: { NODE_OPTIONS: flags, NODE_ENV: 'production' } });
    try {
      const adminUrl = `http://127.0.0.1:${admin}`;
      await sleep(4000);
      await autocannonRun(sidecar.url, { connections: 32, seconds: 5, overallRate: 1000 }); // warm-up
      await eventLoopLagMaxMs(adminUrl); // resets the maximum
      const cpuBefore = cpuSeconds(sidecar.pid);
      const steady = await autocannonRun(sidecar.url, { connections: 32, seconds: 20, overallRate: 1000 });
      const cpuPer1000 = ((cpuSeconds(sidecar.pid) - cpuBefore) / steady.requests) * 1000;
      const lag = await eventLoopLagMaxMs(adminUrl);
      const saturated = await autocannonRun(sidecar.url, { connections: 64, seconds: 8 });
      console.log(`| ${flags ? `\`${flags}\`` : 'none'} | ${cpuPer1000.toFixed(3)} | ${steady.p99Ms} | ${lag} | ${memoryMb(sidecar.pid).rss} | ${saturated.requestsPerSecond} |`);
    } finally {
      sidecar.stop();
    }
  }
} finally {
  upstream.stop();
  removeWorkFiles();
}
