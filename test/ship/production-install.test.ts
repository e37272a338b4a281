// The image's contents, run the way the kubelet runs the image: `npm ci --omit=dev`
// plus `npm run build`'s dist/, started as `node dist/cli.js --config FILE` by a
// numeric non-root UID, as PID 1 of its own PID namespace, with a read-only root
// filesystem. No container engine runs here; unshare and setpriv make the same
// kernel objects a container runtime makes. Needs root (CI runs as root) to create them.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { stringify } from 'yaml';
import { adminCredentials } from '../../lab/cluster/cluster.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { dockerfileEnv } from '../../lab/dockerfile.ts';
import { freePort } from '../../lab/net.ts';
import { until } from '../../lab/session-service/harness.ts';

const root = join(import.meta.dirname, '../..');
const run = promisify(execFile);
const uid = 65532;

/** One line of /proc/PID/status, e.g. "NSpid:\t4242\t1" → ["4242", "1"]. */
const procStatus = (pid: number, field: string): string[] =>
  (new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/);

void t.test('the production install runs as a non-root UID, as PID 1, on a read-only root, and exits 0 on SIGTERM', async (t) => {
  t.equal(process.getuid?.(), 0, 'creating namespaces needs root, as CI has');
  const app = temporaryDirectory(t, 'sidecar-image-');
  chmodSync(app, 0o755);
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(root, file), join(app, file));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app });
  await run('npm', ['run', '-s', 'build', '--', '--outDir', join(app, 'dist')], { cwd: root });
  t.ok(existsSync(join(app, 'dist/cli.js')), 'npm run build emitted dist/cli.js');
  t.notOk(existsSync(join(app, 'node_modules/typescript')) || existsSync(join(app, 'node_modules/tap')), 'no dev dependency is installed');

  const [port, adminPort] = [await freePort(), await freePort()];
  const config = join(app, 'config.yaml');
  writeFileSync(config, stringify({
    listen: { address: '127.0.0.1', port },
    admin: { address: '127.0.0.1', port: adminPort },
    upstream: { url: `http://127.0.0.1:${await freePort()}` },
    cassandra: { contact_points: ['127.0.0.1'], ...adminCredentials() },
    // Depooled pods stop getting traffic within 200 ms here; there is no load balancer to wait for.
    depool: { propagation_ms: 200 },
  }), { mode: 0o644 });

  // The root is remounted read-only in a private mount namespace: nothing outside sees it.
  const container = `mount --make-rprivate / && mount -o remount,bind,ro / && exec setpriv --reuid=${uid} --regid=${uid} --clear-groups --no-new-privs "$@"`;
  // The image's environment only: `env -i` drops this test runner's, which tap extends
  // with hooks of its own in every process it spawns.
  const environment = ['PATH=/usr/bin:/bin', 'NODE_ENV=production', `NODE_OPTIONS=${dockerfileEnv('NODE_OPTIONS')}`];
  const child = spawn('unshare', ['--mount', '--pid', '--fork', '--mount-proc', 'sh', '-c', container, 'container',
    'env', '-i', ...environment, process.execPath, 'dist/cli.js', '--config', config], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  let [output, errors] = ['', ''];
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString(); });
  let sidecarPid = 0;
  t.teardown(() => { if (sidecarPid) try { process.kill(sidecarPid, 'SIGKILL'); } catch { /* already gone */ } });

  // The sidecar is unshare's only child; sh, setpriv and env exec'd into it.
  await until(() => { sidecarPid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0] || 0); return sidecarPid > 0 && output.includes('sessionstore-sidecar started'); }, 20_000, 'the sidecar has started');
  t.same(procStatus(sidecarPid, 'NSpid').at(-1), '1', 'PID 1 in its own PID namespace');
  t.same(procStatus(sidecarPid, 'Uid'), [String(uid), String(uid), String(uid), String(uid)], `runs as UID ${uid}`);
  t.same(procStatus(sidecarPid, 'NoNewPrivs'), ['1'], 'no_new_privs is set');
  const rootMount = readFileSync(`/proc/${sidecarPid}/mountinfo`, 'utf8').split('\n').find((line) => line.split(' ')[4] === '/');
  t.match(rootMount?.split(' ')[5], /^ro\b/, 'its root filesystem is read-only');
  t.match(readFileSync(`/proc/${sidecarPid}/cmdline`, 'utf8').split('\0'), [process.execPath, 'dist/cli.js'], 'plain JavaScript, no TypeScript loader');
  t.same(readFileSync(`/proc/${sidecarPid}/environ`, 'utf8').split('\0').filter(Boolean), environment, 'the image\'s environment, with the Dockerfile\'s heap settings');

  const health = await request(`http://127.0.0.1:${adminPort}/healthz`);
  t.equal(health.statusCode, 200, '/healthz answers');
  await health.body.dump();

  process.kill(sidecarPid, 'SIGTERM');
  const [code, signal] = await exited;
  sidecarPid = 0;
  t.same({ code, signal }, { code: 0, signal: null }, 'SIGTERM to PID 1 is handled: a graceful stop, exit 0');
  t.match(output, /"msg":"stopped"/, 'it said it stopped');
  t.equal(errors, '', 'nothing on stderr: it never tried to write to its root filesystem, nor failed otherwise');
});
