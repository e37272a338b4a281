// The pod `inject` makes of k8s/examples/plain.yaml: the lab takes the settings it
// models from there (the kubelet's readiness probe, the containers' UIDs and GIDs), so
// a change to what inject writes is what the lab runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from '../src/inject/command.ts';
import { inject, sidecarName, type InjectOptions } from '../src/inject/inject.ts';

export interface SecurityContext { runAsUser?: number; runAsGroup?: number }
export interface Probe { periodSeconds: number; timeoutSeconds: number; failureThreshold: number }
export interface Container { name: string; args?: string[]; ports?: { containerPort: number }[]; securityContext?: SecurityContext; readinessProbe?: Probe; volumeMounts?: { name: string; mountPath: string }[] }
export interface Volume { name: string; secret?: { secretName: string; defaultMode?: number }; configMap?: { name: string } }
export interface PodSpec { securityContext?: SecurityContext; containers: Container[]; initContainers?: Container[]; volumes?: Volume[] }

/** `adapt` changes the example's objects before injection (to point it at the lab); `options` are inject's. */
export function injectedExample(options: Partial<InjectOptions> = {}, adapt: (objects: unknown[]) => void = () => undefined): { objects: unknown[]; pod: PodSpec; sidecar: Container; service: Container } {
  const source = readFileSync(join(import.meta.dirname, '../k8s/examples/plain.yaml'), 'utf8');
  const input = parseManifests(source, 'plain.yaml');
  adapt(input);
  const { objects } = inject(input, options);
  const deployment = objects.find((o) => (o as { kind: string }).kind === 'Deployment') as { spec: { template: { spec: PodSpec } } };
  const pod = deployment.spec.template.spec;
  const sidecar = pod.initContainers?.find((c) => c.name === sidecarName);
  const [service] = pod.containers;
  if (!sidecar || !service) throw new Error('inject added no sidecar to k8s/examples/plain.yaml');
  return { objects, pod, sidecar, service };
}
