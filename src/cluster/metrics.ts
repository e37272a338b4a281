import { Counter, Gauge, Histogram, metricPrefix, type Registry } from '../telemetry/metrics.ts';

export interface ClusterMetrics {
  nodeUp: Gauge<'address' | 'dc' | 'rack'>;
  breakerState: Gauge<'address'>;
  breakerEvents: Counter<'address' | 'event'>;
  probeDuration: Histogram<'address' | 'probe'>;
  probeQueries: Counter<'address'>;
  localQuorumAvailable: Gauge;
  coordinatorQuorum: Gauge<'address' | 'dc' | 'rack'>;
  schemaAgreement: Gauge;
  membershipAgreement: Gauge;
  contactPointResolved: Gauge<'contact_point'>;
}

export function createClusterMetrics(registry: Registry): ClusterMetrics {
  const registers = [registry];
  return {
    nodeUp: new Gauge({ name: `${metricPrefix}cassandra_node_up`, help: '1 when the node answered its last probe as a coordinator, else 0.', labelNames: ['address', 'dc', 'rack'], registers }),
    breakerState: new Gauge({ name: `${metricPrefix}coordinator_breaker_state`, help: "State of the node's circuit breaker: 0 closed, 1 half-open, 2 open.", labelNames: ['address'], registers }),
    breakerEvents: new Counter({ name: `${metricPrefix}coordinator_breaker_events_total`, help: 'Circuit breaker events per node: success, failure, timeout, reject, open, half_open, close.', labelNames: ['address', 'event'], registers }),
    probeDuration: new Histogram({
      name: `${metricPrefix}probe_duration_seconds`,
      help: 'Duration of each probe query per node: local, peers, schema, canary_write, canary_read.',
      labelNames: ['address', 'probe'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    probeQueries: new Counter({ name: `${metricPrefix}probe_queries_total`, help: 'CQL queries the sidecar sent to each node as coordinator (its cost to Cassandra).', labelNames: ['address'], registers }),
    localQuorumAvailable: new Gauge({ name: `${metricPrefix}local_quorum_available`, help: "1 when LOCAL_QUORUM is achievable in the local data center by the sidecar's own probes, 0 when it is not; absent while the sidecar knows no node or not every node has answered its first probe.", registers }),
    coordinatorQuorum: new Gauge({
      name: `${metricPrefix}coordinator_can_achieve_local_quorum`,
      help: "1 when the node, as coordinator, achieved LOCAL_QUORUM (its own data center's) in the sidecar's last canary; 0 when it answers but cannot, or does not answer.",
      labelNames: ['address', 'dc', 'rack'],
      registers,
    }),
    schemaAgreement: new Gauge({ name: `${metricPrefix}schema_agreement`, help: '1 when every reachable node reports the same schema version.', registers }),
    membershipAgreement: new Gauge({ name: `${metricPrefix}membership_agreement`, help: '1 when every reachable node lists the same members.', registers }),
    contactPointResolved: new Gauge({ name: `${metricPrefix}contact_point_resolved`, help: "1 when the contact point's last lookup succeeded, 0 when it failed (the addresses found before are still probed). Addresses configured as contact points are not looked up.", labelNames: ['contact_point'], registers }),
  };
}
