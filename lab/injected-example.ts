// The pod `inject` makes of k8s/examples/plain.yaml: the lab takes the settings it
// models from there (the kubelet's readiness probe, the containers' UIDs and GIDs), so
// a change to what inject writes is what the lab runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from '../src/inject/command.ts';
import { inject, sidecarName } from '../src/inject/inject.ts';

export interface SecurityContext { runAsUser?: number; runAsGroup?: number }
export interface Probe { periodSeconds: number; timeoutSeconds: number; failureThreshold: number }
export interface Container { name: string; securityContext?: SecurityContext; readinessProbe?: Probe }
export interface PodSpec { securityContext?: SecurityContext; containers: Container[]; initContainers?: Container[]; volumes?: { secret?: { defaultMode?: number } }[] }

export function injectedExample(): { pod: PodSpec; sidecar: Container; service: Container } {
  const source = readFileSync(join(import.meta.dirname, '../k8s/examples/plain.yaml'), 'utf8');
  const deployment = inject(parseManifests(source, 'plain.yaml')).objects.find((o) => (o as { kind: string }).kind === 'Deployment') as { spec: { template: { spec: PodSpec } } };
  const pod = deployment.spec.template.spec;
  const sidecar = pod.initContainers?.find((c) => c.name === sidecarName);
  const [service] = pod.containers;
  if (!sidecar || !service) throw new Error('inject added no sidecar to k8s/examples/plain.yaml');
  return { pod, sidecar, service };
}
