// The image, built from the Dockerfile by a real container engine (Debian's podman) on a
// base made here (lab/image/base.ts), and run the way the kubelet runs the sidecar
// container that inject writes (k8s/sessionstore/injected.yaml): read-only root, every
// capability dropped, no new privileges, its memory limit, its volumes read-only. It
// probes the shared lab cluster with credentials from mounted files, as from a Secret.
// Needs root (CI runs as root), as podman does here.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { parseAllDocuments, stringify } from 'yaml';
import { adminCredentials } from '../../lab/cluster/cluster.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { buildImage } from '../../lab/image/build.ts';
import { memoryLimitOf, runContainer, runFlags, type ContainerSpec } from '../../lab/image/container.ts';
import { podman, podmanOutcome } from '../../lab/image/podman.ts';
import { freePort } from '../../lab/net.ts';
import { until } from '../../lab/session-service/harness.ts';
import { sidecarName } from '../../src/inject/inject.ts';

const root = join(import.meta.dirname, '../..');
t.setTimeout(15 * 60_000);

/** The sidecar container of the injected example, as the kubelet is given it. */
function injectedSidecar(): ContainerSpec {
  const documents = parseAllDocuments(readFileSync(join(root, 'k8s/sessionstore/injected.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { initContainers?: (ContainerSpec & { name: string })[] } } } });
  const spec = documents.find((d) => d.kind === 'Deployment')?.spec?.template?.spec?.initContainers?.find((c) => c.name === sidecarName);
  if (!spec) throw new Error('k8s/sessionstore/injected.yaml has no sidecar container');
  return spec;
}

/** name@version of every package under a node_modules directory, nested ones included. */
function installedPackages(nodeModules: string): string[] {
  const found: string[] = [];
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      const path = join(dir, entry);
      if (entry.startsWith('@')) { visit(path); continue; }
      const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as { name: string; version: string };
      found.push(`${manifest.name}@${manifest.version}`);
      if (existsSync(join(path, 'node_modules'))) visit(join(path, 'node_modules'));
    }
  };
  visit(nodeModules);
  return found.sort();
}

/** What `npm ci --omit=dev` installs from the lockfile: every package not marked dev. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; name?: string }> };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.dev !== true)
    .map(([path, entry]) => `${entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${entry.version ?? '?'}`)
    .sort();
}

/** The machine's firewall rules and network interfaces: podman must add none (host networking, no bridge). */
const network = async (): Promise<string> => {
  const run = promisify(execFile);
  const rules = await Promise.all(['filter', 'nat'].map(async (table) => (await run('iptables', ['-t', table, '-S'])).stdout));
  return `${rules.join('')}${(await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((line) => line.split(':')[1] ?? '').join(' ')}`;
};
const networkBefore = await network();

const work = temporaryDirectory(t, 'sidecar-image-');
const image = await buildImage(work, (line) => { t.comment(line); });
t.comment(`${image.name}: ${(image.bytes / 1e6).toFixed(1)} MB, built in ${image.buildSeconds.toFixed(1)} s on ${image.base}`);

void t.test('the image holds the production install, its SBOM, and nothing of the build', async (t) => {
  const mounted = (await podman(['image', 'mount', image.name])).trim();
  t.teardown(() => podman(['image', 'unmount', image.name]));
  const app = join(mounted, 'app');
  t.ok(existsSync(join(app, 'dist/cli.js')), 'dist/cli.js, the entrypoint');
  const installed = installedPackages(join(app, 'node_modules'));
  t.same(installed, productionPackages(), `exactly the lockfile's production packages (${installed.length}): no dev dependency`);
  const sbom = JSON.parse(readFileSync(join(app, 'sbom.cdx.json'), 'utf8')) as { bomFormat: string; components: { name: string; group?: string; version: string }[] };
  t.equal(sbom.bomFormat, 'CycloneDX', 'a CycloneDX SBOM');
  t.same(sbom.components.map((c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`).sort(), installed, 'the SBOM lists exactly what is installed');
  const everything = readdirSync(app, { recursive: true, encoding: 'utf8' });
  t.same(everything.filter((path) => path.endsWith('.map')), [], 'no source map');
  t.same(everything.filter((path) => path.startsWith('dist') && path.endsWith('.ts')), [], 'no TypeScript source');
  t.notOk(['root/.npm', 'home/node/.npm', 'app/.npm', 'tmp/build-ca.crt', 'usr/local/etc/npmrc'].some((path) => existsSync(join(mounted, path))), 'no npm cache, and nothing of the build\'s trust settings');
  const cli = statSync(join(app, 'dist/cli.js'));
  t.ok(cli.uid === 0 && (cli.mode & 0o022) === 0, 'the code belongs to root and only root may write it');
});

void t.test('run as the kubelet runs it: it serves, probes the cluster, writes nothing, and drains on SIGTERM', async (t) => {
  const slowMs = 1500;
  const upstream = http.createServer((req, res) => {
    const answer = (): void => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`upstream saw ${req.method ?? ''} ${req.url ?? ''}`); };
    if (req.url === '/slow') setTimeout(answer, slowMs); else answer();
  });
  const upstreamPort = await freePort();
  t.teardown(() => { upstream.close(); });

  // The pod's volumes: the ConfigMap, and the two Secrets as files of mode 0444 (defaultMode 292).
  const volumes = { 'sessionstore-sidecar-config': join(work, 'config'), 'sessionstore-sidecar-cassandra': join(work, 'cassandra'), 'sessionstore-sidecar-admin': join(work, 'admin') };
  for (const dir of Object.values(volumes)) mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(work, 0o755);
  const { username, password } = adminCredentials();
  const secretFile = (dir: string, name: string, value: string): void => { writeFileSync(join(dir, name), value, { mode: 0o444 }); };
  secretFile(volumes['sessionstore-sidecar-cassandra'], 'username', username);
  secretFile(volumes['sessionstore-sidecar-cassandra'], 'password', password);
  secretFile(volumes['sessionstore-sidecar-admin'], 'token', 'image-test-token-0123456789');
  const [port, adminPort] = [await freePort(), await freePort()];
  const propagationMs = 1000;
  const drainTimeoutMs = 5000;
  writeFileSync(join(volumes['sessionstore-sidecar-config'], 'config.yaml'), stringify({
    listen: { address: '127.0.0.1', port },
    admin: { address: '127.0.0.1', port: adminPort, token_file: '/etc/sessionstore-sidecar/admin/token' },
    upstream: { url: `http://127.0.0.1:${upstreamPort}` },
    cassandra: { contact_points: ['127.0.0.1'], username_file: '/etc/sessionstore-sidecar/cassandra/username', password_file: '/etc/sessionstore-sidecar/cassandra/password' },
    depool: { propagation_ms: propagationMs },
    shutdown: { drain_timeout_ms: drainTimeoutMs },
  }), { mode: 0o644 });

  const spec = injectedSidecar();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const startedAt = performance.now();
  const container = await runContainer(t, image.name, `sessionstore-sidecar-image-test-${process.pid}`, runFlags(spec, volumes), spec.args ?? []);
  await until(async () => (await request(`${adminUrl}/healthz`).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0)) === 200, 20_000, '/healthz answers');
  t.comment(`/healthz answered ${((performance.now() - startedAt) / 1000).toFixed(2)} s after podman run`);

  // A native sidecar starts before the service: the pod is not ready until the service answers.
  const readiness = async (): Promise<{ status: number; body: string }> => request(`${adminUrl}/readyz`, { reset: true }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), () => ({ status: 0, body: '' }));
  t.match(await readiness(), { status: 503, body: /the session service (does not answer|has not answered) its health check/ }, 'not ready while the service does not answer');
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
  await until(async () => (await readiness()).status === 200, 10_000, 'ready once the service answers');
  t.pass('ready once the service answers');

  const status = (field: string): string[] => (new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${container.pid}/status`, 'utf8'))?.[1] ?? '').split(/\s+/);
  t.same(status('Uid'), ['65532', '65532', '65532', '65532'], 'UID 65532, the image\'s USER');
  t.same(status('NSpid').at(-1), '1', 'node is PID 1 of the container');
  t.same(status('CapEff'), ['0000000000000000'], 'no capability');
  t.same(status('NoNewPrivs'), ['1'], 'no new privileges');
  const rootMount = readFileSync(`/proc/${container.pid}/mountinfo`, 'utf8').split('\n').find((line) => line.split(' ')[4] === '/');
  t.match(rootMount?.split(' ')[5], /^ro\b/, 'a read-only root filesystem');
  t.equal(memoryLimitOf(container.pid), 160 * 1024 * 1024, 'the manifest\'s memory limit (160Mi), enforced by the kernel');

  const forwarded = await request(`http://127.0.0.1:${port}/sessions/v1/image-test`);
  t.equal(await forwarded.body.text(), 'upstream saw GET /sessions/v1/image-test', 'the proxy forwards to the service on the pod\'s loopback');
  const metrics = await request(`${adminUrl}/metrics`).then(async (r) => r.body.text());
  t.match(metrics, /^sessionstore_sidecar_http_requests_total\{/m, '/metrics answers with the sidecar\'s own series');
  const view = async (): Promise<{ address: string; reachable: boolean }[]> => ((await request(`${adminUrl}/status`).then(async (r) => r.body.json())) as { cluster: { nodes: { address: string; reachable: boolean }[] } }).cluster.nodes;
  await until(async () => { const nodes = await view(); return nodes.length === 3 && nodes.every((n) => n.reachable); }, 30_000, 'the sidecar probes every node');
  t.pass('every node of the cluster probed, with the credentials from the mounted Secret files');

  await sleep(5000);
  t.comment(`RSS at idle: ${(Number(status('VmRSS')[0]) / 1024).toFixed(1)} MB`);
  const mountPoints = (spec.volumeMounts ?? []).map((m) => m.mountPath);
  const changes = await container.changes();
  t.ok(changes.every((line) => mountPoints.some((mount) => `${mount}/`.startsWith(`${line.slice(2)}/`))), `nothing changed in its root filesystem but the mount points the engine made (${changes.join(', ')})`);
  t.notMatch(await container.logs(), /EROFS|read-only file system/i, 'and it never tried to write there');

  const inFlight = request(`http://127.0.0.1:${port}/slow`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
  await sleep(200);
  const signalledAt = performance.now();
  await container.signal('SIGTERM');
  await until(async () => (await readiness()).status === 503, 1000, 'readiness fails');
  t.pass(`readiness failed ${(performance.now() - signalledAt).toFixed(0)} ms after SIGTERM`);
  t.same(await inFlight, { status: 200, body: 'upstream saw GET /slow' }, 'the request in flight at SIGTERM finished');
  t.equal(await container.exited(), 0, 'exit 0');
  const stoppedMs = performance.now() - signalledAt;
  t.ok(stoppedMs < propagationMs + drainTimeoutMs, `stopped ${stoppedMs.toFixed(0)} ms after SIGTERM, within the propagation and drain time (${propagationMs + drainTimeoutMs} ms)`);
  t.match(await container.logs(), /"msg":"stopped"/, 'and said so');
});

void t.test('--check-config in the image: a bad config exits non-zero and names the key', async (t) => {
  const config = join(work, 'bad-config');
  mkdirSync(config, { recursive: true, mode: 0o755 });
  writeFileSync(join(config, 'config.yaml'), stringify({ listen: { port: 'eighty' }, upstream: { url: 'http://127.0.0.1:8080' } }), { mode: 0o644 });
  const flags = runFlags(injectedSidecar(), { 'sessionstore-sidecar-config': config, 'sessionstore-sidecar-cassandra': config, 'sessionstore-sidecar-admin': config });
  const { code, output } = await podmanOutcome(['run', '--rm', ...flags, image.name, '--config', '/etc/sessionstore-sidecar/config.yaml', '--check-config']);
  t.not(code, 0, `exit ${code}`);
  t.match(output, /listen\.port/, 'the key is named');
});

void t.test('podman added no firewall rule and no network interface: the build and every container used the machine\'s network', async (t) => {
  t.equal(await network(), networkBefore);
});
