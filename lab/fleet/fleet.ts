// A local fleet, like a Deployment behind a Service: pods of a Kask-compatible service
// and its sidecar over the local cluster, a readiness-aware balancer in front of them,
// and a real Prometheus that scrapes every sidecar with the shipped alert rules.
//   acting:  the sidecars as shipped (retries on, graceful restarts on);
//   dry-run: what happened without them: retries off, and remediation in dry run
//            (every step but the restart itself, so the sidecars still say what they
//            would have done and when).
// Each fleet has its own lease scope, so two fleets over one cluster never wait on
// each other's restarts. A fleet runs in one data center: its services and sidecars
// take that data center's nodes as their own (Kask's pods in eqiad or codfw).
import type { Cleanup } from '../cleanup.ts';
import { dataCenter, nodesIn, type DataCenterName } from '../cluster/layout.ts';
import type { RuleTimeScale } from '../../k8s/monitoring/alerts.ts';
import { startPrometheus, type PrometheusServer } from '../prometheus.ts';
import { startService, type RunningService, type ServiceOptions } from '../session-service/harness.ts';
import { startSidecar, type SidecarProcess } from '../sidecar-process.ts';
import { startBalancer, type Balancer, type BalancerOptions } from './balancer.ts';

export type FleetMode = 'dry-run' | 'acting';

export interface FleetPod {
  name: string;
  service: RunningService;
  sidecar: SidecarProcess;
}

export interface Fleet {
  name: string;
  mode: FleetMode;
  dataCenter: DataCenterName;
  pods: FleetPod[];
  balancer: Balancer;
  prometheus: PrometheusServer;
}

export interface FleetOptions {
  name: string;
  mode: FleetMode;
  pods: number;
  /** dc1 unless said. */
  dataCenter?: DataCenterName;
  service: ServiceOptions;
  /** Sidecar settings by section, for both modes; the mode's and the data center's own settings win. */
  sidecar: Record<string, Record<string, unknown>>;
  balancer?: BalancerOptions;
  /** How the fleet's Prometheus shortens the rules' time (lab/prometheus.ts). */
  alertScale?: RuleTimeScale;
}

const fleetSettings = (mode: FleetMode, leaseScope: string, home: DataCenterName): Record<string, Record<string, unknown>> => ({
  retries: { enabled: mode === 'acting' },
  remediation: { dry_run: mode === 'dry-run', lease_scope: leaseScope },
  cassandra: { contact_points: [nodesIn(home)[0]?.address], local_data_center: home },
});

export async function startFleet(owner: Cleanup, options: FleetOptions): Promise<Fleet> {
  const home = options.dataCenter ?? dataCenter;
  const own = fleetSettings(options.mode, `lab-${options.name}`, home);
  const sections = new Set([...Object.keys(options.sidecar), ...Object.keys(own)]);
  const settings = Object.fromEntries([...sections].map((name) => [name, { ...options.sidecar[name], ...own[name] }]));
  const pods = await Promise.all(Array.from({ length: options.pods }, async (_, i): Promise<FleetPod> => {
    const service = await startService(owner, { ...options.service, dataCenter: home });
    const sidecar = await startSidecar(owner, service.url, service.pidFile, settings);
    return { name: `${options.name}-${i + 1}`, service, sidecar };
  }));
  const balancer = await startBalancer(owner, pods.map((pod) => {
    const { hostname, port } = new URL(pod.sidecar.url);
    return { name: pod.name, address: { host: hostname, port: Number(port) }, readinessUrl: `${pod.sidecar.adminUrl}/readyz` };
  }), options.balancer);
  const prometheus = await startPrometheus(owner, pods.map((pod) => new URL(pod.sidecar.adminUrl).host), options.alertScale);
  return { name: options.name, mode: options.mode, dataCenter: home, pods, balancer, prometheus };
}
