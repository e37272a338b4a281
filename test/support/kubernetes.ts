// Kubernetes objects validated against the API's own OpenAPI schemas, through
// kubernetes-models (5.1.0; its schemas carry Lifecycle.stopSignal, a Kubernetes 1.33
// field, so they are 1.33 or later). A kind this does not know is an error: nothing
// shipped escapes validation.
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Pod, Secret, Service } from 'kubernetes-models/v1';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment, 'apps/v1/StatefulSet': StatefulSet,
  'v1/Pod': Pod, 'v1/Service': Service, 'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Namespace': Namespace,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Validates one object (a List: each of its items); throws with its kind, name and the schema's complaint. */
export function validateObject(object: unknown): void {
  const { apiVersion, kind, metadata, items } = object as { apiVersion?: string; kind?: string; metadata?: { name?: string }; items?: unknown[] };
  if (apiVersion === 'v1' && kind === 'List') {
    for (const item of items ?? []) validateObject(item);
    return;
  }
  const Model = models[`${apiVersion ?? '?'}/${kind ?? '?'}`];
  if (!Model) throw new Error(`${apiVersion ?? '?'} ${kind ?? '?'} ${metadata?.name ?? ''}: no schema to validate it against`);
  try {
    new Model(object as never).validate();
  } catch (error) {
    throw new Error(`${kind ?? '?'} ${metadata?.name ?? ''}: ${(error as Error).message}`, { cause: error });
  }
}
