import { Counter, Gauge, Histogram, metricPrefix, type Registry } from '../telemetry/metrics.ts';

export interface ClusterMetrics {
  nodeUp: Gauge<'address' | 'dc' | 'rack'>;
  breakerState: Gauge<'address'>;
  breakerEvents: Counter<'address' | 'event'>;
  probeDuration: Histogram<'address' | 'probe'>;
  probeQueries: Counter<'address'>;
  localQuorumAvailable: Gauge;
  dataCenterQuorumAvailable: Gauge<'dc'>;
  coordinatorQuorum: Gauge<'address' | 'dc' | 'rack'>;
  schemaAgreement: Gauge;
  membershipAgreement: Gauge;
  contactPointResolved: Gauge<'contact_point'>;
  keyspaceBytes: Gauge<'address'>;
  loadBytes: Gauge<'address'>;
  diskCapacityBytes: Gauge<'address'>;
  diskUsageState: Gauge<'address' | 'state'>;
}

export function createClusterMetrics(registry: Registry): ClusterMetrics {
  const registers = [registry];
  return {
    nodeUp: new Gauge({ name: `${metricPrefix}cassandra_node_up`, help: '1 when the node answered its last probe as a coordinator, else 0.', labelNames: ['address', 'dc', 'rack'], registers }),
    breakerState: new Gauge({ name: `${metricPrefix}coordinator_breaker_state`, help: "State of the node's circuit breaker: 0 closed, 1 half-open, 2 open.", labelNames: ['address'], registers }),
    breakerEvents: new Counter({ name: `${metricPrefix}coordinator_breaker_events_total`, help: 'Circuit breaker events per node: success, failure, timeout, reject, open, half_open, close.', labelNames: ['address', 'event'], registers }),
    probeDuration: new Histogram({
      name: `${metricPrefix}probe_duration_seconds`,
      help: 'Duration of each probe query per node: local, peers, schema, storage, canary_write, canary_read.',
      labelNames: ['address', 'probe'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    probeQueries: new Counter({ name: `${metricPrefix}probe_queries_total`, help: 'CQL queries the sidecar sent to each node as coordinator (its cost to Cassandra).', labelNames: ['address'], registers }),
    localQuorumAvailable: new Gauge({ name: `${metricPrefix}local_quorum_available`, help: "1 when LOCAL_QUORUM is achievable in the local data center by the sidecar's own probes, 0 when it is not; absent while the sidecar knows no node or not every node has answered its first probe.", registers }),
    dataCenterQuorumAvailable: new Gauge({
      name: `${metricPrefix}data_center_quorum_available`,
      help: "1 when a quorum of the data center's replicas is reachable by the sidecar's own probes, for each data center the keyspace is replicated to (the local one included): all of them at 1 is what EACH_QUORUM deletes need. Absent like local_quorum_available.",
      labelNames: ['dc'], registers,
    }),
    coordinatorQuorum: new Gauge({
      name: `${metricPrefix}coordinator_can_achieve_local_quorum`,
      help: "1 when the node, as coordinator, achieved LOCAL_QUORUM (its own data center's) in the sidecar's last canary; 0 when it answers but cannot, or does not answer.",
      labelNames: ['address', 'dc', 'rack'],
      registers,
    }),
    schemaAgreement: new Gauge({ name: `${metricPrefix}schema_agreement`, help: '1 when every reachable node reports the same schema version.', registers }),
    membershipAgreement: new Gauge({ name: `${metricPrefix}membership_agreement`, help: '1 when every reachable node lists the same members.', registers }),
    keyspaceBytes: new Gauge({ name: `${metricPrefix}cassandra_node_keyspace_bytes`, help: "Bytes the session keyspace's tables take on the node's data disks, as the node says (system_views.disk_usage, to the MiB; read once a minute).", labelNames: ['address'], registers }),
    loadBytes: new Gauge({ name: `${metricPrefix}cassandra_node_load_bytes`, help: "The node's live data in every keyspace, as its gossip says (system_views.gossip_info load; read once a minute).", labelNames: ['address'], registers }),
    diskCapacityBytes: new Gauge({ name: `${metricPrefix}cassandra_node_disk_capacity_bytes`, help: "The size of the node's data disk: Cassandra's data_disk_usage_max_disk_size, else the sidecar's cassandra.data_disk_bytes; absent when neither is set (no client can read a node's disk size).", labelNames: ['address'], registers }),
    diskUsageState: new Gauge({ name: `${metricPrefix}cassandra_node_disk_usage_state`, help: "1 for the state Cassandra's disk usage guardrail gossips for the node (not_available, spacious, stuffed: over the warn threshold, full: over the fail threshold, writes refused), 0 for the others; absent while the guardrail is off.", labelNames: ['address', 'state'], registers }),
    contactPointResolved: new Gauge({ name: `${metricPrefix}contact_point_resolved`, help: "1 when the contact point's last lookup succeeded, 0 when it failed (the addresses found before are still probed). Addresses configured as contact points are not looked up.", labelNames: ['contact_point'], registers }),
  };
}
