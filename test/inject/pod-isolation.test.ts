// What each container of an injected pod can read of the other, on this machine's real
// kernel, with the UIDs, GIDs and Secret mode that `inject` writes (k8s/examples/plain.yaml):
//   - the sidecar runs as the service's UID under a GID of its own, in a mount namespace
//     of its own that holds its Secret (as only its container mounts the volume);
//   - the service's process cannot read the sidecar's Secret through /proc/<pid>/root,
//     nor its environment: the kernel's ptrace rule wants the UID *and* the GID;
//   - with the sidecar's own credentials the same path reads (the barrier is the GID);
//   - the sidecar may still signal the service (a signal wants only the UID), and still
//     counts the service's connections, from the pod's network namespace.
// Root is needed to start processes under other UIDs and to mount the Secret's tmpfs.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { adminCredentials } from '../../lab/cluster/cluster.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { injectedExample } from '../../lab/injected-example.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { startUpstream } from '../support/http.ts';
import { startPoolHolder } from '../support/pool-holder.ts';

const run = promisify(execFile);

/** The credentials inject gives each container of the plain example. */
function injectedCredentials(): { sidecar: { uid: number; gid: number }; service: { uid: number; gid: number }; secretMode: number } {
  const { pod, sidecar, service } = injectedExample();
  const serviceUid = service.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  // The example names no GID for Kask: its image's user then has a group of its own number, by convention.
  const serviceGid = service.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? serviceUid;
  const { runAsUser, runAsGroup } = sidecar.securityContext ?? {};
  if (runAsUser === undefined || runAsGroup === undefined || serviceUid === undefined || serviceGid === undefined) throw new Error('inject wrote no UID or GID');
  return { sidecar: { uid: runAsUser, gid: runAsGroup }, service: { uid: serviceUid, gid: serviceGid }, secretMode: pod.volumes?.find((v) => v.secret)?.secret?.defaultMode ?? 0o644 };
}

// tap's process-info and coverage hooks (NODE_OPTIONS) would write into its own directory, which other UIDs may not.
const as = (who: { uid: number; gid: number }): string[] => ['setpriv', `--reuid=${who.uid}`, `--regid=${who.gid}`, '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

/** What a process with these credentials gets when it reads the file: its text, or the error's code. */
async function readAs(who: { uid: number; gid: number }, file: string): Promise<string> {
  const [command, ...args] = [...as(who), process.execPath, '-e', `try { process.stdout.write(require('node:fs').readFileSync(${JSON.stringify(file)}, 'utf8')) } catch (e) { process.stdout.write(e.code) }`];
  return (await run(command, args)).stdout;
}

/**
 * Fails at once, and says why, where the pod's UIDs cannot reach node or this checkout:
 * under a private directory (`mktemp -d` makes one, mode 0700) their processes would
 * only fail to start, each after its start timeout.
 */
async function assertReachableAs(who: { uid: number; gid: number }): Promise<void> {
  const script = join(import.meta.dirname, '../../src/cli.ts');
  const [command, ...args] = [...as(who), 'sh', '-c', 'test -x "$0" && test -r "$1"', process.execPath, script];
  await run(command, args).catch(() => {
    throw new Error(`UID ${who.uid} (GID ${who.gid}) cannot run ${process.execPath} or read ${script}: every directory above them must be searchable by others; clone into one that is (mktemp -d makes 0700)`);
  });
}

void t.test('the service cannot read the sidecar\'s Secret or environment; the sidecar can still signal the service and count its pool', async (t) => {
  if (process.getuid?.() !== 0) throw new Error('this test starts processes under the pod\'s UIDs and mounts a tmpfs: run it as root (.ci/run does)');
  const { sidecar: sidecarIds, service: serviceIds, secretMode } = injectedCredentials();
  t.not(sidecarIds.gid, serviceIds.gid, `inject gives the sidecar a GID of its own (${sidecarIds.gid}; the service ${serviceIds.gid})`);
  t.equal(sidecarIds.uid, serviceIds.uid, 'and the service\'s UID');
  await assertReachableAs(sidecarIds);
  await assertReachableAs(serviceIds);

  // The Secret as the kubelet writes it (owned by root, inject's mode), visible in the sidecar's mount namespace only.
  const root = temporaryDirectory(t, 'pod-isolation-');
  const staged = join(root, 'staged');
  mkdirSync(staged, { mode: 0o700 });
  const marker = `secret-marker-${process.pid}`;
  writeFileSync(join(staged, 'username'), adminCredentials().username);
  writeFileSync(join(staged, 'password'), adminCredentials().password);
  writeFileSync(join(staged, 'token'), marker);
  const mounted = join(root, 'secrets');
  mkdirSync(mounted, { mode: 0o755 });
  await run('chmod', ['0755', root]);
  const mode = secretMode.toString(8);
  const inOwnMountNamespace = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount -t tmpfs -o size=64k,mode=0755 secrets "$0" && cp ${staged}/* "$0"/ && chmod ${mode} "$0"/* && exec "$@"`, mounted];

  const upstream = await startUpstream(t);
  const service = await startPoolHolder(t, 9042, '127.0.0.2', 2, as(serviceIds));
  const sidecar = await startSidecar(t, upstream.url, service.pidFile, {
    cassandra: { username: undefined, password: undefined, username_file: join(mounted, 'username'), password_file: join(mounted, 'password') },
    admin: { token_file: join(mounted, 'token') },
  }, { prefix: [...inOwnMountNamespace, ...as(sidecarIds)] });
  t.teardown(() => sidecar.stop());

  const status = await sidecar.status() as { config: { lacking: string[] } };
  t.same(status.config.lacking, [], `the sidecar, not root, reads its Secret files (mode ${mode}, owned by root)`);
  const secretThroughProc = `/proc/${sidecar.pid}/root${mounted}/token`;
  t.equal(await readAs(sidecarIds, secretThroughProc), marker, 'with the sidecar\'s own credentials the Secret reads through /proc/<pid>/root: the path is there');
  t.equal(await readAs(serviceIds, secretThroughProc), 'EACCES', 'the service\'s process cannot read it: same UID, another GID');
  t.equal(await readAs(serviceIds, `/proc/${sidecar.pid}/environ`), 'EACCES', 'nor the sidecar\'s environment');
  t.equal(await readAs(serviceIds, join(mounted, 'token')), 'ENOENT', 'and outside the sidecar\'s mount namespace the Secret is not there at all');

  // The sidecar sees the service's pool from the network namespace (it may not read the service's descriptors).
  interface Pool { source: string; connections: Record<string, number> }
  const poolOf = async (): Promise<Pool | null> => ((await sidecar.status()) as { service: { pool: Pool | null } }).service.pool;
  let pool = await poolOf();
  for (let i = 0; i < 100 && !pool?.connections['127.0.0.2']; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    pool = await poolOf();
  }
  t.equal(pool?.source, 'namespace', 'the service\'s sockets are counted from the namespace, not from its descriptors');
  t.ok((pool?.connections['127.0.0.2'] ?? 0) >= 2, `the service's two connections to 127.0.0.2 are counted (${pool?.connections['127.0.0.2'] ?? 0}), not read as none`);

  // The restart's signal: allowed by UID alone.
  const exited = new Promise((resolve) => { service.child.once('exit', (_code, signal) => { resolve(signal); }); });
  const [kill, ...killArgs] = [...as(sidecarIds), 'kill', '-TERM', String(service.child.pid)];
  await run(kill, killArgs);
  t.equal(await exited, 'SIGTERM', 'a process with the sidecar\'s credentials signals the service');
});
