// A local fleet, like a Deployment behind a Service: pods of a Kask-compatible service
// and its sidecar over the local cluster, a readiness-aware balancer in front of them,
// and a real Prometheus that scrapes every sidecar with the shipped alert rules.
//   acting:  the sidecars as shipped (retries on, graceful restarts on);
//   dry-run: what happened without them: retries off, and remediation in dry run
//            (every step but the restart itself, so the sidecars still say what they
//            would have done and when).
// Each fleet has its own lease scope, so two fleets over one cluster never wait on
// each other's restarts.
import type { Cleanup } from '../cleanup.ts';
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
  pods: FleetPod[];
  balancer: Balancer;
  prometheus: PrometheusServer;
}

export interface FleetOptions {
  name: string;
  mode: FleetMode;
  pods: number;
  service: ServiceOptions;
  /** Sidecar settings by section, for both modes; the mode's own settings win. */
  sidecar: Record<string, Record<string, unknown>>;
  balancer?: BalancerOptions;
  /** How the fleet's Prometheus shortens the rules' time (lab/prometheus.ts). */
  alertScale?: RuleTimeScale;
}

const modeSettings = (mode: FleetMode, leaseScope: string): Record<string, Record<string, unknown>> => ({
  retries: { enabled: mode === 'acting' },
  remediation: { dry_run: mode === 'dry-run', lease_scope: leaseScope },
});

export async function startFleet(owner: Cleanup, options: FleetOptions): Promise<Fleet> {
  const mode = modeSettings(options.mode, `lab-${options.name}`);
  const sections = new Set([...Object.keys(options.sidecar), ...Object.keys(mode)]);
  const settings = Object.fromEntries([...sections].map((name) => [name, { ...options.sidecar[name], ...mode[name] }]));
  const pods = await Promise.all(Array.from({ length: options.pods }, async (_, i): Promise<FleetPod> => {
    const service = await startService(owner, options.service);
    const sidecar = await startSidecar(owner, service.url, service.pidFile, settings);
    return { name: `${options.name}-${i + 1}`, service, sidecar };
  }));
  const balancer = await startBalancer(owner, pods.map((pod) => {
    const { hostname, port } = new URL(pod.sidecar.url);
    return { name: pod.name, address: { host: hostname, port: Number(port) }, readinessUrl: `${pod.sidecar.adminUrl}/readyz` };
  }), options.balancer);
  const prometheus = await startPrometheus(owner, pods.map((pod) => new URL(pod.sidecar.adminUrl).host), options.alertScale);
  return { name: options.name, mode: options.mode, pods, balancer, prometheus };
}
