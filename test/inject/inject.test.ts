// Injection as a pure function: both traffic shapes, running it twice, the port rules,
// the UID and process namespace, and every refusal. Every output is validated against
// Kubernetes' own schemas.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { parseManifests } from '../../src/inject/command.ts';
import { inject, InjectError, sidecarName, statusAnnotation } from '../../src/inject/inject.ts';
import { validateObject } from '../support/kubernetes.ts';

const example = (name: string): unknown[] => parseManifests(readFileSync(join(import.meta.dirname, `../../k8s/examples/${name}.yaml`), 'utf8'), name);

interface Container { name: string; ports?: { name?: string; containerPort: number }[]; restartPolicy?: string; securityContext?: Record<string, unknown>; readinessProbe?: { httpGet?: { port: unknown } }; env?: unknown[]; volumeMounts?: { name: string; mountPath: string }[] }
interface PodSpec { containers: Container[]; initContainers?: Container[]; shareProcessNamespace?: boolean; hostNetwork?: boolean; securityContext?: Record<string, unknown>; volumes?: { name: string; secret?: { secretName: string; optional?: boolean; defaultMode?: number }; configMap?: { name: string } }[] }
interface Workload { kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: { template: { metadata: { annotations?: Record<string, string> }; spec: PodSpec } } }
const deployment = (objects: unknown[]): Workload => objects.find((o) => (o as Workload).kind === 'Deployment') as Workload;
const sidecarOf = (workload: Workload): Container | undefined => workload.spec.template.spec.initContainers?.find((c) => c.name === sidecarName);
const configMap = (objects: unknown[], name: string): { data: Record<string, string> } | undefined =>
  objects.find((o) => (o as { kind: string; metadata: { name: string } }).kind === 'ConfigMap' && (o as { metadata: { name: string } }).metadata.name === name) as { data: Record<string, string> } | undefined;

void t.test('the mesh shape: a native sidecar between Envoy and Kask, Envoy rewired, its config from Kask\'s', (t) => {
  const input = example('mesh');
  const { objects, notes } = inject(input);
  for (const object of objects) validateObject(object);
  const pod = deployment(objects).spec.template.spec;
  const sidecar = sidecarOf(deployment(objects));
  t.equal(sidecar?.restartPolicy, 'Always', 'a native sidecar: an init container that keeps running');
  t.same(sidecar?.ports, [{ name: 'sidecar-proxy', containerPort: 8089 }, { name: 'sidecar-admin', containerPort: 9364 }], 'on ports neither Kask (8080) nor Envoy (8081, 9361) uses');
  t.match(sidecar?.securityContext, { runAsUser: 65533, runAsGroup: 65532, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
    "restricted, the pod's UID, so that it may signal Kask, and a GID of its own, so that neither reads the other's /proc/<pid>/root");
  t.equal(pod.shareProcessNamespace, true, "a shared process namespace: it finds Kask's process, to signal it");
  t.notOk(JSON.stringify(sidecar?.env ?? []).includes('secretKeyRef'), 'no secret in its environment');
  const secretVolumes = (pod.volumes ?? []).filter((v) => v.secret);
  t.same(secretVolumes.map((v) => [v.secret?.secretName, v.secret?.optional, v.secret?.defaultMode]), [['sessionstore-sidecar-cassandra', true, 0o444], ['sessionstore-sidecar-admin', true, 0o444]],
    'the Secrets as volumes, optional (a missing one never keeps the pod from starting), readable by the non-root sidecar (the kubelet writes them as root)');
  const mountedBy = (volume: string): string[] => [...pod.containers, ...(pod.initContainers ?? [])].filter((c) => c.volumeMounts?.some((m) => m.name === volume)).map((c) => c.name);
  for (const volume of secretVolumes) t.same(mountedBy(volume.name), [sidecarName], `${volume.name} is mounted into the sidecar's container only`);
  const readiness = sidecarOf(deployment(objects))?.readinessProbe as { httpGet: unknown; periodSeconds: number; failureThreshold: number } | undefined;
  t.match(readiness, { httpGet: { path: '/readyz', port: 9364 } }, 'its readiness on its admin port');
  const unreadyWithin = (readiness?.periodSeconds ?? 0) * (readiness?.failureThreshold ?? 0) * 1000;
  t.ok(unreadyWithin >= 3000, `a starved machine has ${unreadyWithin} ms before the kubelet takes its pods out`);
  // The kubelet's part plus a second for the endpoints: within the time a depool keeps serving.
  t.ok(unreadyWithin + 1000 <= parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }).depool.propagation_ms, `a depool is seen within ${unreadyWithin} ms, inside the default propagation time (${parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }).depool.propagation_ms} ms)`);
  const envoy = parse(configMap(objects, 'production-envoy-config-volume')?.data['envoy.yaml'] ?? '') as { static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] } }[] } };
  t.equal(envoy.static_resources.clusters[0]?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address.port_value, 8089, "Envoy's local cluster now forwards to the sidecar");
  t.match(notes, [/Envoy's local cluster now forwards to the sidecar on 8089/]);
  const config = parse(configMap(objects, 'sessionstore-sidecar-config')?.data['config.yaml'] ?? '') as Record<string, Record<string, unknown>>;
  t.match(config, { listen: { port: 8089 }, admin: { port: 9364, token_file: '/etc/sessionstore-sidecar/admin/token' }, upstream: { url: 'http://127.0.0.1:8080' },
    cassandra: { contact_points: ['sessionstore1001-a.eqiad.wmnet', 'sessionstore1002-a.eqiad.wmnet', 'sessionstore1003-a.eqiad.wmnet'], port: 9042, keyspace: 'sessions', local_data_center: 'eqiad',
      username_file: '/etc/sessionstore-sidecar/cassandra/username', password_file: '/etc/sessionstore-sidecar/cassandra/password' } },
  "the sidecar's configuration, from Kask's");
  t.match(JSON.parse(deployment(objects).spec.template.metadata.annotations?.[statusAnnotation] ?? '{}'), { shape: 'mesh', serviceContainer: 'kask-production', proxyPort: 8089, adminPort: 9364 }, 'the status annotation');
  t.match(deployment(objects).spec.template.metadata.annotations, { 'prometheus.io/port': '8080', 'sessionstore-sidecar.wikimedia.org/scrape': 'true', 'sessionstore-sidecar.wikimedia.org/port': '9364' },
    'Kask is still scraped by its own annotations; the sidecar is added by its own');
  t.same(input, example('mesh'), 'the input is not changed');
  t.end();
});

void t.test('the mesh shape without Envoy\'s configuration: the chart value to set', (t) => {
  const input = example('mesh').filter((o) => (o as { metadata: { name: string } }).metadata.name !== 'production-envoy-config-volume');
  t.match(inject(input).notes, [/set mesh.upstream_local_port: 8089 in the chart's values/]);
  t.end();
});

void t.test('the plain shape: the Service\'s named port moves to the sidecar; Kask keeps its port, and its probe follows', (t) => {
  const { objects, notes } = inject(example('plain'));
  for (const object of objects) validateObject(object);
  const pod = deployment(objects).spec.template.spec;
  const kask = pod.containers.find((c) => c.name === 'kask');
  t.same(sidecarOf(deployment(objects))?.ports?.[0], { name: 'http', containerPort: 8089 }, "the Service's targetPort http is now the sidecar's");
  t.same(kask?.ports, [{ name: 'svc-8080', containerPort: 8080 }], 'Kask keeps its port under another name');
  t.equal(kask?.readinessProbe?.httpGet?.port, 'svc-8080', "and its readiness probe still reaches Kask's own port");
  t.same(objects.find((o) => (o as { kind: string }).kind === 'Service'), example('plain').find((o) => (o as { kind: string }).kind === 'Service'), 'the Service is not edited');
  t.match(notes, [/Service sessionstore port 8080 targets the named port http, which is now the sidecar's \(8089\)/]);
  t.end();
});

void t.test('a Service that targets the port by number: what to change, said exactly', (t) => {
  const input = example('plain').map((o) => ((o as { kind: string }).kind === 'Service' ? { ...(o as object), spec: { selector: { app: 'sessionstore' }, ports: [{ port: 80, targetPort: 8080 }] } } : o));
  t.match(inject(input).notes, [/Service sessionstore port 80 targets 8080 by number: change its targetPort to 8089/]);
  t.end();
});

void t.test('running it twice changes nothing the second time', (t) => {
  for (const shape of ['mesh', 'plain']) {
    const once = inject(example(shape)).objects;
    const twice = inject(once);
    t.same(twice.objects, once, `${shape}: the same objects`);
    t.same(twice.notes, [], `${shape}: nothing more to say`);
  }
  t.end();
});

void t.test('ports never collide with any port already in the pod', (t) => {
  const input = example('mesh').map((o) => {
    if ((o as Workload).kind !== 'Deployment') return o;
    const copy = structuredClone(o) as Workload;
    copy.spec.template.spec.containers.push({ name: 'metrics', ports: [{ containerPort: 8089 }, { containerPort: 9364 }, { containerPort: 9365 }] });
    return copy;
  });
  t.same(sidecarOf(deployment(inject(input).objects))?.ports?.map((p) => p.containerPort), [8090, 9366], 'the next free ones');
  const envoyOnly = example('mesh').map((o) => ((o as Workload).kind === 'Deployment' ? o : o));
  t.same(sidecarOf(deployment(inject(envoyOnly, { adminPort: 9361 }).objects))?.ports?.map((p) => p.containerPort), [8089, 9362], "never Envoy's telemetry port 9361, declared or not");
  t.end();
});

void t.test('a StatefulSet, a bare Pod and a List are injected alike', (t) => {
  const template = deployment(example('plain'));
  const statefulSet = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's' }, spec: { serviceName: 's', selector: { matchLabels: { app: 'sessionstore' } }, template: template.spec.template } };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'x' } }, spec: structuredClone(template.spec.template.spec) };
  const list = { apiVersion: 'v1', kind: 'List', items: [statefulSet, pod] };
  const { objects } = inject([list]);
  t.equal(objects.length, 1, 'the List stays one List');
  validateObject(objects[0]);
  const items = (objects[0] as { items: { kind: string; spec: { template?: { spec: PodSpec } } & PodSpec }[] }).items;
  t.ok(items[0]?.spec.template?.spec.initContainers?.some((c) => c.name === sidecarName), 'the StatefulSet');
  t.ok(items[1]?.spec.initContainers?.some((c) => c.name === sidecarName), 'the Pod');
  t.end();
});

void t.test('what it refuses, and why, in words', (t) => {
  const withSpec = (change: (spec: PodSpec) => void): unknown[] => example('plain').map((o) => {
    if ((o as Workload).kind !== 'Deployment') return o;
    const copy = structuredClone(o) as Workload;
    change(copy.spec.template.spec);
    return copy;
  });
  t.throws(() => inject(withSpec((spec) => { spec.hostNetwork = true; })), new InjectError('Deployment/sessionstore: hostNetwork pods share the node\'s network: the sidecar\'s ports would collide across pods and its /proc view would be the node\'s; inject refuses it'));
  t.throws(() => inject(withSpec((spec) => { spec.containers[0] = { name: 'nginx' }; })), /Deployment\/sessionstore: cannot tell which container is the session service \(containers: nginx\); name it with --container/);
  t.throws(() => inject(example('plain'), { serviceContainer: 'kask-main' }), /no container named kask-main \(containers: kask\)/);
  t.throws(() => inject(withSpec((spec) => { spec.containers.push({ name: sidecarName }); })), /a container is already named sessionstore-sidecar, but this tool did not add it/);
  t.throws(() => inject(withSpec((spec) => { delete spec.containers[0]?.ports; })), /container kask declares no containerPort/);
  t.throws(() => inject(withSpec((spec) => { spec.securityContext = { ...spec.securityContext, runAsGroup: 65532 }; })),
    /kask runs as GID 65532, the sidecar's own: choose another with --sidecar-group/, 'a service of the sidecar\'s GID: each could read the other\'s secrets');
  const regrouped = deployment(inject(withSpec((spec) => { spec.securityContext = { ...spec.securityContext, runAsGroup: 65532 }; }), { sidecarGroup: 4242 }).objects);
  t.match(sidecarOf(regrouped)?.securityContext, { runAsGroup: 4242 }, '--sidecar-group chooses another');
  t.end();
});
