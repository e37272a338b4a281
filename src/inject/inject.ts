// Adds the sidecar to Kubernetes objects, as `linkerd inject` and `istioctl
// kube-inject` do: a pure function from parsed manifests to parsed manifests, shared
// by the `inject` command and the admission webhook.
//
// For each Deployment, StatefulSet or Pod (Lists are opened):
//   1. refuse what cannot work (hostNetwork; no service container; a container
//      already named like the sidecar that this tool did not add);
//   2. skip what is injected already (the status annotation): running it twice
//      changes nothing;
//   3. pick ports that collide with nothing in the pod (Envoy's included);
//   4. add the sidecar as a native sidecar (an init container with restartPolicy
//      Always), sharing the service's UID (so it may signal it) and its process
//      namespace (so it finds its process), under a GID of its own (so that neither
//      may read the other's /proc/<pid>/root or environ), with probes on its admin port;
//   5. rewire traffic without touching the Service or MediaWiki: in the mesh shape
//      Envoy's local cluster points at the sidecar (its ConfigMap rewritten, or the
//      chart value named); in the plain shape the Service's named port moves to it.
// What it could not do itself, it says in `notes`.
import { parseDocument } from 'yaml';
import { version } from '../version.ts';

export const sidecarName = 'sessionstore-sidecar';
/** Where injection records itself, as Istio does (sidecar.istio.io/status). */
export const statusAnnotation = 'sessionstore-sidecar.wikimedia.org/status';
/** The pods the webhook injects. */
export const injectAnnotation = 'sessionstore-sidecar/inject';
export const scrapeAnnotation = 'sessionstore-sidecar.wikimedia.org/scrape';
export const scrapePortAnnotation = 'sessionstore-sidecar.wikimedia.org/port';

export interface InjectOptions {
  image: string;
  /** The service's container, by name; found by its command or image (kask) when not given. */
  serviceContainer?: string;
  /** The sidecar's own configuration (key config.yaml). */
  configMap: string;
  /** Cassandra credentials (keys username, password; ca.crt optional). */
  cassandraSecret: string;
  /** The admin token for the operator actions (key token); optional in the pod. */
  adminTokenSecret: string;
  proxyPort: number;
  adminPort: number;
  /**
   * The sidecar's own GID. The kernel lets a process read another's /proc/<pid>/root,
   * environ, mem and fd only when UID *and* GID match (ptrace's access rule), while a
   * signal needs only the UID: a GID the service does not have keeps each out of the
   * other's files and still lets the sidecar restart the service.
   */
  sidecarGroup: number;
}

export const defaultInjectOptions: InjectOptions = {
  image: `docker-registry.wikimedia.org/sessionstore-sidecar:${version}`,
  configMap: 'sessionstore-sidecar-config',
  cassandraSecret: 'sessionstore-sidecar-cassandra',
  adminTokenSecret: 'sessionstore-sidecar-admin',
  proxyPort: 8089,
  adminPort: 9364,
  sidecarGroup: 65532,
};

export class InjectError extends Error {
  override name = 'InjectError';
}

export interface InjectResult {
  objects: unknown[];
  /** What the operator must do or know: traffic that could not be rewired here, and so on. */
  notes: string[];
}

type Json = Record<string, unknown>;
interface Port { name?: string; containerPort: number }
interface Container { name: string; image?: string; command?: string[]; args?: string[]; ports?: Port[]; readinessProbe?: Json; livenessProbe?: Json; startupProbe?: Json; securityContext?: Json; restartPolicy?: string }
interface PodSpec { containers: Container[]; initContainers?: Container[]; volumes?: Json[]; hostNetwork?: boolean; shareProcessNamespace?: boolean; securityContext?: Json }
interface Meta { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface Workload { kind: string; metadata?: Meta; spec?: Json }
interface ServicePort { name?: string; port: number; targetPort?: number | string }
interface Service { kind: 'Service'; metadata?: Meta; spec?: { selector?: Record<string, string>; ports?: ServicePort[] } }
interface ConfigMap { kind: 'ConfigMap'; metadata?: Meta; data?: Record<string, string> }

const clone = <T>(value: T): T => structuredClone(value);
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const kindOf = (value: unknown): string | undefined => (isObject(value) && typeof value.kind === 'string' ? value.kind : undefined);
const nameOf = (object: { kind?: string; metadata?: Meta }): string => `${object.kind ?? '?'}/${object.metadata?.name ?? '?'}`;

/** The pod template (or the pod) of a workload. */
function podOf(workload: Workload): { meta: Meta; spec: PodSpec } | null {
  if (workload.kind === 'Pod') return workload.spec ? { meta: (workload.metadata ??= {}), spec: workload.spec as unknown as PodSpec } : null;
  if (workload.kind !== 'Deployment' && workload.kind !== 'StatefulSet') return null;
  const template = workload.spec?.template as { metadata?: Meta; spec?: PodSpec } | undefined;
  if (!template?.spec) return null;
  return { meta: (template.metadata ??= {}), spec: template.spec };
}

function findServiceContainer(workload: Workload, spec: PodSpec, wanted: string | undefined): Container {
  const names = spec.containers.map((c) => c.name).join(', ');
  if (wanted !== undefined) {
    const found = spec.containers.find((c) => c.name === wanted);
    if (!found) throw new InjectError(`${nameOf(workload)}: no container named ${wanted} (containers: ${names})`);
    return found;
  }
  const kask = spec.containers.filter((c) => [...(c.command ?? []), ...(c.args ?? []), c.image ?? ''].some((s) => /kask/i.test(s)));
  if (kask.length !== 1) {
    throw new InjectError(`${nameOf(workload)}: cannot tell which container is the session service (containers: ${names}); name it with --container`);
  }
  return kask[0] as Container;
}

const isEnvoy = (c: Container): boolean => /envoy/i.test(c.image ?? '') || /tls-proxy$/.test(c.name);

/** Every port the pod already uses or that its containers listen on by convention. */
function portsInUse(spec: PodSpec, mesh: boolean): Set<number> {
  const used = new Set<number>();
  const probePort = (probe: Json | undefined): void => {
    for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
      const port = (probe?.[handler] as { port?: unknown } | undefined)?.port;
      if (typeof port === 'number') used.add(port);
    }
  };
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) used.add(p.containerPort);
    probePort(c.readinessProbe);
    probePort(c.livenessProbe);
    probePort(c.startupProbe);
  }
  // Envoy's telemetry (9361) and admin (1666, when on TCP) ports need not be declared.
  if (mesh) for (const port of [9361, 1666]) used.add(port);
  return used;
}

/** Where the Secrets are mounted in the sidecar's container (and nowhere else). */
const secretDirs = { cassandra: '/etc/sessionstore-sidecar/cassandra', admin: '/etc/sessionstore-sidecar/admin' };

const freeFrom = (preferred: number, used: Set<number>): number => {
  let port = preferred;
  while (used.has(port)) port++;
  used.add(port);
  return port;
};

/** Where the sidecar proxies and serves when its ConfigMap is missing: enough to keep the pod serving (--config-fallback). */
const fallbackSettings = (ports: { proxy: number; admin: number; service: number }): string =>
  JSON.stringify({ listen: { port: ports.proxy }, admin: { port: ports.admin }, upstream: { url: `http://127.0.0.1:${ports.service}` } });

function sidecarContainer(options: InjectOptions, ports: { proxy: number; admin: number; service: number; proxyName: string }, uid: unknown): Container & Json {
  return {
    name: sidecarName,
    image: options.image,
    // A native sidecar: started before the service and kept running beside it (Kubernetes 1.29+).
    restartPolicy: 'Always',
    // Without its ConfigMap the sidecar still proxies to the service (and says what it lacks), so the pod serves.
    args: ['--config', '/etc/sessionstore-sidecar/config.yaml', '--config-fallback', fallbackSettings(ports)],
    ports: [{ name: ports.proxyName, containerPort: ports.proxy }, { name: 'sidecar-admin', containerPort: ports.admin }],
    // No secret in the environment: every process of the same UID can read /proc/<pid>/environ. They are files of
    // Secrets mounted into this container only (secretVolumes), read by the *_file settings.
    // /readyz answers at once from the sidecar's own state, so a 1 s period costs nothing. Three failures in a row, as
    // Envoy's unhealthy_threshold: a machine starved of CPU for up to ~3 s (every pod of a node at once) must not empty
    // the Service, which then refuses everything. A depool is seen within 3 s; the propagation time (5 s) covers that and
    // the endpoints' update. One slow answer of the service is the sidecar's health check's business (3 in a row).
    readinessProbe: { httpGet: { path: '/readyz', port: ports.admin }, periodSeconds: 1, failureThreshold: 3, timeoutSeconds: 1 },
    livenessProbe: { httpGet: { path: '/healthz', port: ports.admin }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
    // The request covers what it holds: 107 MB RSS at idle in its image (test/ship/image.test.ts), 125 MB at
    // 1,000 requests a second, 147 MB at the peak after saturation (docs/benchmarks.md). Below it, it is evicted first.
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '160Mi' } },
    securityContext: {
      // The service's UID, so that it may signal the service's process (its restart), and a GID of its own, so that
      // neither process may read the other's files through /proc (options.sidecarGroup).
      ...(uid === undefined ? {} : { runAsUser: uid }),
      runAsGroup: options.sidecarGroup,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'sessionstore-sidecar-config', mountPath: '/etc/sessionstore-sidecar', readOnly: true },
      { name: 'sessionstore-sidecar-cassandra', mountPath: secretDirs.cassandra, readOnly: true },
      { name: 'sessionstore-sidecar-admin', mountPath: secretDirs.admin, readOnly: true },
    ],
  };
}

/** Points Envoy's local cluster (LOCAL_*) at the sidecar instead of the service; true when it changed something. */
function rewireEnvoy(configMap: ConfigMap, from: number, to: number): boolean {
  const text = configMap.data?.['envoy.yaml'];
  if (text === undefined) return false;
  const document = parseDocument(text);
  const clusters = document.getIn(['static_resources', 'clusters']) as { items?: unknown[] } | undefined;
  let changed = false;
  for (const [index] of (clusters?.items ?? []).entries()) {
    const name = document.getIn(['static_resources', 'clusters', index, 'name']);
    if (typeof name !== 'string' || !name.startsWith('LOCAL_')) continue;
    const path = ['static_resources', 'clusters', index, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address', 'port_value'];
    if (document.getIn(path) === from) {
      document.setIn(path, to);
      changed = true;
    }
  }
  if (changed && configMap.data) configMap.data['envoy.yaml'] = document.toString();
  return changed;
}

/** The sidecar's own configuration, from the service's (Kask's config.yaml: cassandra.hosts, port, keyspace). */
function sidecarConfig(kaskConfig: string | undefined, ports: { proxy: number; admin: number; service: number }): string | null {
  const kask = (kaskConfig === undefined ? null : parseDocument(kaskConfig).toJS()) as { cassandra?: { hosts?: string[]; hostname?: string; port?: number; keyspace?: string; local_dc?: string } } | null;
  const hosts = kask?.cassandra?.hosts ?? (kask?.cassandra?.hostname === undefined ? undefined : [kask.cassandra.hostname]);
  if (!hosts) return null;
  const cassandra = kask?.cassandra ?? {};
  return [
    `# Written by sessionstore-sidecar inject from the service's own configuration. See docs/configuration.md.`,
    `listen: {port: ${ports.proxy}}`,
    `admin: {port: ${ports.admin}, token_file: ${secretDirs.admin}/token}`,
    `upstream: {url: "http://127.0.0.1:${ports.service}"}`,
    'cassandra:',
    `  contact_points: [${hosts.join(', ')}]`,
    `  username_file: ${secretDirs.cassandra}/username`,
    `  password_file: ${secretDirs.cassandra}/password`,
    ...(cassandra.port === undefined ? [] : [`  port: ${cassandra.port}`]),
    ...(cassandra.keyspace === undefined ? [] : [`  keyspace: ${cassandra.keyspace}`]),
    ...(cassandra.local_dc === undefined ? [] : [`  local_data_center: ${cassandra.local_dc}`]),
    '',
  ].join('\n');
}

function renameProbePort(container: Container, from: string, to: string): void {
  for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
    for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
      const action = probe?.[handler] as { port?: unknown } | undefined;
      if (action?.port === from) action.port = to;
    }
  }
}

const selects = (service: Service, labels: Record<string, string> | undefined): boolean => {
  const selector = service.spec?.selector;
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
};

/** Injects the sidecar into every workload among `input`; returns the objects (in order) and what else must be done. */
export function inject(input: readonly unknown[], given: Partial<InjectOptions> = {}): InjectResult {
  const options = { ...defaultInjectOptions, ...given };
  const outputs = input.map(clone);
  // Lists keep their shape: their items are injected in place.
  const everything = outputs.flatMap((object) => (kindOf(object) === 'List' && Array.isArray((object as Json).items) ? (object as { items: unknown[] }).items : [object]));
  const notes: string[] = [];
  const services = everything.filter((o): o is Service => kindOf(o) === 'Service');
  const configMaps = everything.filter((o): o is ConfigMap => kindOf(o) === 'ConfigMap');
  const added: ConfigMap[] = [];

  for (const workload of everything.filter((o): o is Workload => ['Deployment', 'StatefulSet', 'Pod'].includes(kindOf(o) ?? ''))) {
    const pod = podOf(workload);
    if (!pod) continue;
    const { meta, spec } = pod;
    const where = nameOf(workload);
    // 2. Injected already: nothing to do, so running it twice changes nothing.
    if (meta.annotations?.[statusAnnotation] !== undefined) continue;
    // 1. What cannot work.
    if (spec.hostNetwork === true) {
      throw new InjectError(`${where}: hostNetwork pods share the node's network: the sidecar's ports would collide across pods and its /proc view would be the node's; inject refuses it`);
    }
    if ([...spec.containers, ...(spec.initContainers ?? [])].some((c) => c.name === sidecarName)) {
      throw new InjectError(`${where}: a container is already named ${sidecarName}, but this tool did not add it (no ${statusAnnotation} annotation); rename or remove it`);
    }
    const service = findServiceContainer(workload, spec, options.serviceContainer);
    const servicePort = service.ports?.[0]?.containerPort;
    if (servicePort === undefined) throw new InjectError(`${where}: container ${service.name} declares no containerPort: cannot tell where the service listens`);
    const envoy = spec.containers.find(isEnvoy);
    // 3. Ports that collide with nothing.
    const used = portsInUse(spec, envoy !== undefined);
    const proxyPort = freeFrom(options.proxyPort, used);
    const adminPort = freeFrom(options.adminPort, used);

    // 5. Traffic: which of the service's port names the pod's Services target.
    let proxyName = 'sidecar-proxy';
    const shape = envoy ? 'mesh' : 'plain';
    if (envoy) {
      const envoyConfig = configMaps.find((c) => c.data?.['envoy.yaml'] !== undefined && (c.metadata?.namespace ?? '') === (workload.metadata?.namespace ?? ''));
      if (envoyConfig && rewireEnvoy(envoyConfig, servicePort, proxyPort)) {
        notes.push(`${where}: Envoy's local cluster now forwards to the sidecar on ${proxyPort} (ConfigMap ${envoyConfig.metadata?.name ?? '?'} rewritten).`);
      } else if (!envoyConfig) {
        notes.push(`${where}: Envoy's configuration is not among the input: set mesh.upstream_local_port: ${proxyPort} in the chart's values, so that Envoy forwards to the sidecar (it forwards to ${servicePort} now).`);
      }
    } else {
      for (const svc of services.filter((s) => selects(s, meta.labels))) {
        for (const port of svc.spec?.ports ?? []) {
          const target = port.targetPort ?? port.port;
          const named = typeof target === 'string' ? service.ports?.find((p) => p.name === target) : undefined;
          if (named) {
            // The Service's named port moves to the sidecar; the service keeps its port under another name, and
            // its own probes follow (a probe's port name resolves among its own container's ports).
            proxyName = target as string;
            named.name = `svc-${named.containerPort}`;
            renameProbePort(service, proxyName, named.name);
            notes.push(`${where}: Service ${svc.metadata?.name ?? '?'} port ${port.port} targets the named port ${proxyName}, which is now the sidecar's (${proxyPort}).`);
          } else if (target === servicePort) {
            notes.push(`${where}: Service ${svc.metadata?.name ?? '?'} port ${port.port} targets ${servicePort} by number: change its targetPort to ${proxyPort} (or give the port a name), or traffic bypasses the sidecar.`);
          }
        }
      }
      if (proxyName === 'sidecar-proxy' && services.filter((s) => selects(s, meta.labels)).length === 0) {
        notes.push(`${where}: no Service among the input selects this pod: point yours at port ${proxyPort}, or traffic bypasses the sidecar.`);
      }
    }

    // 4. The sidecar, beside the service, sharing its UID and process namespace, under a GID of its own.
    const uid = service.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
    if (uid === undefined) notes.push(`${where}: no runAsUser is set: the sidecar and ${service.name} must run as the same UID for the sidecar to restart it.`);
    const serviceGroup = service.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup;
    if (serviceGroup === options.sidecarGroup) {
      throw new InjectError(`${where}: ${service.name} runs as GID ${options.sidecarGroup}, the sidecar's own: choose another with --sidecar-group, or each could read the other's secrets through /proc.`);
    }
    spec.initContainers = [sidecarContainer(options, { proxy: proxyPort, admin: adminPort, service: servicePort, proxyName }, uid), ...(spec.initContainers ?? [])];
    spec.shareProcessNamespace = true;
    spec.volumes = [
      ...(spec.volumes ?? []),
      // Optional too: without it the sidecar runs as a plain proxy (--config-fallback) and says so.
      { name: 'sessionstore-sidecar-config', configMap: { name: options.configMap, optional: true } },
      // Optional: a Secret not created yet never keeps the pod from starting; the sidecar runs without it and says so.
      // 0444: the kubelet writes them as root, and the sidecar is not root. They are safe from the service all the
      // same: only the sidecar's container mounts them, and its GID bars the way through /proc/<pid>/root.
      { name: 'sessionstore-sidecar-cassandra', secret: { secretName: options.cassandraSecret, optional: true, defaultMode: 0o444 } },
      { name: 'sessionstore-sidecar-admin', secret: { secretName: options.adminTokenSecret, optional: true, defaultMode: 0o444 } },
    ];
    meta.annotations = {
      ...meta.annotations,
      [statusAnnotation]: JSON.stringify({ version, shape, serviceContainer: service.name, proxyPort, adminPort }),
      // Prometheus keeps scraping the service by its own annotations; these add the sidecar (a job of their own, see k8s/prometheus).
      [scrapeAnnotation]: 'true',
      [scrapePortAnnotation]: String(adminPort),
    };

    // The sidecar's configuration: written from the service's own when it is among the input.
    if (![...configMaps, ...added].some((c) => c.metadata?.name === options.configMap)) {
      const kask = configMaps.find((c) => c.data?.['config.yaml']?.includes('cassandra') && c.metadata?.name !== options.configMap);
      const config = sidecarConfig(kask?.data?.['config.yaml'], { proxy: proxyPort, admin: adminPort, service: servicePort });
      if (config === null) {
        notes.push(`${where}: create ConfigMap ${options.configMap} (key config.yaml) with the sidecar's configuration: the service's own is not among the input (see k8s/sessionstore/sidecar-config.yaml). Until it exists the sidecar only proxies.`);
      } else {
        added.push({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: options.configMap, ...(workload.metadata?.namespace ? { namespace: workload.metadata.namespace } : {}) }, data: { 'config.yaml': config } } as ConfigMap);
      }
    }
  }
  return { objects: [...outputs, ...added], notes };
}
