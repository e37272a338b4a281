// Injection never wedges a pod: the sidecar of the pod `inject` makes of
// k8s/examples/plain.yaml (pointed at the lab: its Cassandra, a service on a free port),
// started with exactly its container args, its volumes laid out as the kubelet mounts
// them, for every combination of ConfigMap present or missing, Cassandra Secret present,
// missing or without its password key, and admin Secret present or missing. The
// kubelet mounts an optional volume whose object is missing as an empty directory, and
// a Secret without a key as a directory without that file. Every time: the sidecar
// starts, proxies to the service, is ready, and says exactly what it lacks (/status,
// the config_lacking gauge, a warning). The volumes live under a temporary root instead
// of /, so the paths in the args and the configuration are moved there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { adminCredentials } from '../../lab/cluster/cluster.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { injectedExample } from '../../lab/injected-example.ts';
import { samplesOf, spawnSidecar } from '../../lab/sidecar-process.ts';
import { until } from '../../lab/session-service/harness.ts';
import { freePort, startUpstream } from '../support/http.ts';

type Presence = 'present' | 'missing' | 'without password';
interface Combination { configMap: Presence; cassandraSecret: Presence; adminSecret: Presence }

const combinations: Combination[] = (['present', 'missing'] as const).flatMap((configMap) =>
  (['present', 'missing', 'without password'] as const).flatMap((cassandraSecret) =>
    (['present', 'missing'] as const).map((adminSecret) => ({ configMap, cassandraSecret, adminSecret }))));

/** What the sidecar must say it lacks: without its configuration it reads no secret at all. */
function expectedLacking(c: Combination): string[] {
  if (c.configMap === 'missing') return ['config'];
  return [
    ...(c.cassandraSecret === 'missing' ? ['cassandra.username_file'] : []),
    ...(c.cassandraSecret === 'present' ? [] : ['cassandra.password_file']),
    ...(c.adminSecret === 'missing' ? ['admin.token_file'] : []),
  ];
}

void t.test('every combination of missing ConfigMap, Secret and key: the pod serves, and the sidecar says what it lacks', { jobs: 12 }, async (t) => {
  const upstream = await startUpstream(t);
  const servicePort = Number(new URL(upstream.url).port);
  // All at once: each sidecar's stop waits out its depool's propagation time (5 s).
  await Promise.all(combinations.map((combination) =>
    t.test(`ConfigMap ${combination.configMap}, Cassandra Secret ${combination.cassandraSecret}, admin Secret ${combination.adminSecret}`, { buffered: true }, async (t) => {
      const [proxyPort, adminPort] = [await freePort(), await freePort()];
      const { objects, pod, sidecar } = injectedExample({ proxyPort, adminPort }, (input) => {
        for (const object of input as { kind: string; data?: Record<string, string>; spec?: { template: { spec: { containers: { ports: { containerPort: number }[] }[] } } } }[]) {
          if (object.kind === 'ConfigMap' && object.data?.['config.yaml']) {
            object.data['config.yaml'] = object.data['config.yaml'].replace(/hosts: \[.*\]/, 'hosts: [127.0.0.1, 127.0.0.2, 127.0.0.3]');
          }
          if (object.kind === 'Deployment') for (const port of object.spec?.template.spec.containers[0]?.ports ?? []) port.containerPort = servicePort;
        }
      });
      const root = temporaryDirectory(t, 'pod-volumes-');
      const moved = (text: string): string => text.replaceAll('/etc/sessionstore-sidecar', `${root}/etc/sessionstore-sidecar`);
      const sidecarConfigMap = objects.find((o) => (o as { kind: string; metadata: { name: string } }).kind === 'ConfigMap' && (o as { metadata: { name: string } }).metadata.name === 'sessionstore-sidecar-config') as { data: Record<string, string> } | undefined;
      const credentials = adminCredentials();
      // What each volume holds when its object is there, key by key.
      const contents: Record<string, { presence: Presence; files: Record<string, string> }> = {
        'sessionstore-sidecar-config': { presence: combination.configMap, files: { 'config.yaml': moved(sidecarConfigMap?.data['config.yaml'] ?? '') } },
        'sessionstore-sidecar-cassandra': { presence: combination.cassandraSecret, files: { username: credentials.username, password: credentials.password } },
        'sessionstore-sidecar-admin': { presence: combination.adminSecret, files: { token: 'an-admin-token-of-32-characters!' } },
      };
      for (const mount of sidecar.volumeMounts ?? []) {
        const volume = pod.volumes?.find((v) => v.name === mount.name);
        const content = contents[mount.name];
        t.ok(volume && content, `inject's volume ${mount.name} is one this test lays out`);
        const directory = join(root, mount.mountPath);
        mkdirSync(directory, { recursive: true });
        if (!content || content.presence === 'missing') continue; // optional and missing: an empty directory
        for (const [key, value] of Object.entries(content.files)) {
          if (content.presence === 'without password' && key === 'password') continue;
          writeFileSync(join(directory, key), value);
        }
      }

      const running = await spawnSidecar(t, (sidecar.args ?? []).map(moved), { port: proxyPort, adminPort });
      t.ok(running.logs.some((l) => l.msg === 'sessionstore-sidecar started'), 'it starts');
      const proxied = await request(`${running.url}/sessions/v1/some-key`);
      await proxied.body.dump();
      t.equal(proxied.statusCode, 200, 'it proxies to the service');
      await until(async () => (await request(`${running.adminUrl}/readyz`, { reset: true }).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 10_000, 'ready');
      const status = await running.status() as { config: { lacking: { setting: string }[] }; cluster?: unknown };
      const lacking = expectedLacking(combination);
      t.same(status.config.lacking.map((l) => l.setting).sort(), [...lacking].sort(), `/status says it lacks ${lacking.join(', ') || 'nothing'}`);
      const gauge = (await samplesOf(running)).filter((s) => s.name === 'sessionstore_sidecar_config_lacking' && s.value === 1).map((s) => s.labels.setting ?? '');
      t.same(gauge.sort(), [...lacking].sort(), 'and so does config_lacking');
      for (const setting of lacking) t.ok(running.logs.some((l) => l.level === 'warn' && l.setting === setting), `a warning names ${setting}`);
      t.equal(status.cluster === undefined, combination.configMap === 'missing', combination.configMap === 'missing' ? 'without its configuration it only proxies: no view of Cassandra' : 'with it, it watches Cassandra');
      t.equal(await running.stop(), 0, 'and stops cleanly');
      t.equal(running.stderr(), '', 'with nothing on stderr');
    })));
});
