// The sidecar's configuration: one YAML file, snake_case keys, validated with zod.
// Every section has defaults except the Cassandra contact points; unknown keys are
// errors (a typo must never silently fall back to a default).
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const milliseconds = z.number().int().positive();
const filePath = z.string().min(1);

const tls = z.strictObject({
  cert_file: filePath,
  key_file: filePath,
});

// The session store's pod: Kask on 8080, Envoy's TLS terminator on 8081 (forwarding to
// mesh.upstream_local_port) with its telemetry on 9361. The sidecar sits between them,
// on ports none of them uses: Envoy forwards to 8089, the sidecar to Kask's 8080.
const listen = z.strictObject({
  address: z.string().default('0.0.0.0'),
  port: port.default(8089),
  /** When set, the proxy speaks https; the files are reloaded when they change (Secret rotation). */
  tls: tls.optional(),
});

const admin = z.strictObject({
  address: z.string().default('0.0.0.0'),
  port: port.default(9364),
  /**
   * The operator actions (POST /remediation/restart|pause|resume) need
   * `Authorization: Bearer <token>` with this file's content (a Kubernetes Secret
   * mounted into the sidecar's container only). Without a token they are refused.
   */
  token_file: filePath.optional(),
  token: z.string().min(16, 'the admin token must be at least 16 characters').optional(),
});

const upstream = z.strictObject({
  /** The session service on localhost (Kask listens on 8080). */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('http://127.0.0.1:8080'),
  /** CA bundle to verify an https upstream. */
  ca_file: filePath.optional(),
  connections: z.number().int().positive().default(128),
  connect_timeout_ms: milliseconds.default(1000),
  /** Time allowed for the service's response headers, retries included, then 504. Above Kask's own 12 s query timeout, so its answer wins. */
  headers_timeout_ms: milliseconds.default(15_000),
  /** Time allowed between two chunks of the service's response body. */
  body_timeout_ms: milliseconds.default(10_000),
  health_path: z.string().startsWith('/').default('/healthz'),
});

const limits = z.strictObject({
  max_header_bytes: z.number().int().positive().default(16 * 1024),
  /**
   * Session values are a few KB, but the sidecar must never refuse what the service stores: Kask takes any body,
   * and Cassandra refuses a mutation over half its commit log segment (32 MiB by default): 16 MiB. Every body is
   * received whole before it is forwarded; max_buffered_bytes bounds them all together.
   */
  max_body_bytes: z.number().int().positive().default(16 * 1024 * 1024),
  /** All request bodies held at once, across requests; past it new bodies get 503 + Retry-After. */
  max_buffered_bytes: z.number().int().positive().default(32 * 1024 * 1024),
  max_inflight: z.number().int().positive().default(1024),
  /** A client must send its headers within this time, its body within body_timeout_ms, and its whole request within request_timeout_ms. */
  header_timeout_ms: milliseconds.default(10_000),
  body_timeout_ms: milliseconds.default(5_000),
  request_timeout_ms: milliseconds.default(30_000),
  keep_alive_timeout_ms: milliseconds.default(5_000),
  /** Retry-After on the sidecar's own 503s. */
  retry_after_seconds: z.number().int().positive().default(2),
});

const retries = z.strictObject({
  /** Retry the service's storage errors (its 500s, a reset before any answer) on Kask's idempotent API: GET, POST, DELETE under /sessions/. */
  enabled: z.boolean().default(true),
  /** Retries of one request. 4: with one coordinator in three broken and round robin under concurrency, a request then fails only when five attempts in a row land on it (0.4%). */
  max_per_request: z.number().int().min(1).max(5).default(4),
  /** Retries may add at most this share of the API requests over the last 10 s, when the failures are not explained by a named broken coordinator... */
  budget_ratio: z.number().gt(0).max(1).default(0.2),
  /** ...and never more than this share, in any case; a named broken coordinator, with LOCAL_QUORUM through the others, may use it all... */
  ceiling_ratio: z.number().gt(0).max(1).default(1),
  /** ...plus this many per second, so that thin traffic is shielded too. */
  min_per_second: z.number().int().nonnegative().default(5),
  /** Bodies up to this size are kept for a replay; larger requests are never retried. */
  max_body_bytes: z.number().int().nonnegative().default(64 * 1024),
});

const depool = z.strictObject({
  /**
   * After readiness fails (a graceful restart, SIGTERM), the proxy still serves for
   * this long before it turns new requests away: the time the kubelet needs to see the
   * failed readiness probe and the endpoints need to update. At least the readiness
   * probe's periodSeconds × failureThreshold plus a second or two.
   */
  propagation_ms: z.number().int().nonnegative().default(5000),
});

const shutdown = z.strictObject({
  /** On SIGTERM, after the depool's propagation time, in-flight requests get this long to finish. */
  drain_timeout_ms: milliseconds.default(15_000),
});

const logging = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  access_log: z.strictObject({
    enabled: z.boolean().default(false),
    /** Fraction of requests logged when enabled. */
    sample_rate: z.number().min(0).max(1).default(0.01),
  }).prefault({}),
});

const cassandra = z.strictObject({
  /** The same contact points the service uses: addresses, or names looked up again every resolve_interval_ms. */
  contact_points: z.array(z.string().min(1)).min(1),
  resolve_interval_ms: milliseconds.default(10_000),
  port: port.default(9042),
  local_data_center: z.string().min(1).default('dc1'),
  keyspace: z.string().regex(/^\w+$/).default('sessions'),
  username: z.string().optional(),
  /** The role's name from a file (a Secret's key), like the password. */
  username_file: filePath.optional(),
  password: z.string().optional(),
  password_file: filePath.optional(),
  tls: z.strictObject({
    ca_file: filePath,
    cert_file: filePath.optional(),
    key_file: filePath.optional(),
    /** Verify the node's certificate names its address; off when certificates name hosts, not IPs. */
    verify_hostname: z.boolean().default(true),
  }).optional(),
  /**
   * The size of each node's data disk (bytes), where Cassandra's own
   * data_disk_usage_max_disk_size is not set: Cassandra tells no client the size or free
   * space of its disks, and the disk alerts need one or the other.
   */
  data_disk_bytes: z.number().int().positive().optional(),
  probe: z.strictObject({
    interval_ms: milliseconds.default(2000),
    timeout_ms: milliseconds.default(1500),
    /** Consecutive failed probes that open a node's breaker. */
    failure_threshold: z.number().int().positive().default(2),
    /** How long an open breaker waits before it half-opens and probes with a fresh connection. */
    reset_timeout_ms: milliseconds.default(2000),
    /** Whether the canary writes its row (needs a role that may write) or only reads. */
    canary_writes: z.boolean().default(true),
    /** Consecutive failed canaries before a node is judged unable to coordinate LOCAL_QUORUM (one never names it broken). */
    unhealthy_threshold: z.number().int().positive().default(2),
    /** Consecutive good canaries before it is judged able to again. */
    healthy_threshold: z.number().int().positive().default(1),
    /** How often each node's storage (its load, disk usage state and disk settings) is read: disks fill over days. */
    storage_interval_ms: milliseconds.default(60_000),
    /** A node no reachable node lists is forgotten after this long. */
    forget_after_ms: milliseconds.default(300_000),
  }).prefault({}),
});

const service = z.strictObject({
  /** The service's process name (comm), found when the pod shares its process namespace. */
  process_name: z.string().min(1).default('kask'),
  /** Or its pid file, which wins over the name. */
  pid_file: filePath.optional(),
  /** How often the service's pool sockets are read from /proc. */
  observe_interval_ms: milliseconds.default(2000),
  /**
   * Whether the service answers (readiness, and whether its pool is judged at all): its
   * health path, on a connection of its own, in the background. With the defaults a pod
   * goes unready after 3 s without an answer; one slow answer never does it.
   */
  health_check: z.strictObject({
    interval_ms: milliseconds.default(1000),
    /** Up to this much more between checks, at random, so a fleet's pods do not check in step. */
    jitter_ms: z.number().int().nonnegative().default(200),
    timeout_ms: milliseconds.default(1000),
    /** Failed checks in a row before the service counts as not answering. */
    unhealthy_threshold: z.number().int().positive().default(3),
    /** Passed checks in a row before it counts as answering again. */
    healthy_threshold: z.number().int().positive().default(1),
  }).prefault({}),
  /** A write then read of a reserved key through the service's API, at a low rate: evidence when live traffic is too thin. */
  canary: z.strictObject({
    enabled: z.boolean().default(true),
    interval_ms: milliseconds.default(10_000),
  }).prefault({}),
});

const reconcile = z.strictObject({
  interval_ms: milliseconds.default(1000),
  /**
   * A node must answer the sidecar this long before a pool without it is stale: longer
   * than a healthy driver needs to take a node back. Kask's gocql takes 10 s after the
   * node's UP event (its node-up delay for Cassandra 4.0 and later) and, when it missed
   * the event, up to 60 s (its ReconnectInterval ticker): 75 s stays above both.
   */
  stale_grace_ms: milliseconds.default(75_000),
  /** Storage errors over this share of API requests count as failing... */
  error_rate_threshold: z.number().gt(0).max(1).default(0.2),
  /** ...over this window, with at least min_requests requests in it. */
  error_window_seconds: z.number().int().positive().default(10),
  min_requests: z.number().int().positive().default(10),
  /** A divergence must hold this long without a break before it calls for a restart. */
  sustain_ms: milliseconds.default(5000),
});

const remediation = z.strictObject({
  enabled: z.boolean().default(true),
  /** Everything but the restart itself: lease, depool, drain, wait, repool, release. */
  dry_run: z.boolean().default(false),
  /** How to restart the service's pool: a signal to its process (the kubelet restarts the container), an HTTP call, or a command. */
  action: z.enum(['signal', 'http', 'command']).default('signal'),
  signal: z.enum(['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGKILL']).default('SIGTERM'),
  /** May carry credentials (user info, a token in the query): shown only without them. */
  http_url: z.url().optional(),
  command: z.array(z.string().min(1)).min(1).optional(),
  /** The command's arguments may be shown in logs and /status; off by default, since they may carry a secret. */
  show_command_args: z.boolean().default(false),
  drain_timeout_ms: milliseconds.default(10_000),
  /** After the restart, the service must answer /healthz and its canary within this. */
  healthy_timeout_ms: milliseconds.default(60_000),
  /** Write then read a reserved key through the service's API to call it healthy. */
  service_canary: z.boolean().default(true),
  lease_ttl_seconds: z.number().int().positive().default(300),
  /**
   * While another pod holds the lease, look again after this long, at random between half and one and a half
   * times it (jitter, as client-go's leader election): 8 waiting pods make under one Paxos round a second.
   */
  lease_retry_ms: milliseconds.default(10_000),
  /**
   * Who shares the lease: one restart at a time among every sidecar with the same scope.
   * Unset: the local data center, one Deployment per data center over its cluster.
   * Two Deployments over one cluster (a canary release, a second fleet) set their own.
   */
  lease_scope: z.string().min(1).max(100).optional(),
  max_restarts_per_hour: z.number().int().nonnegative().default(3),
  backoff_base_ms: milliseconds.default(60_000),
  backoff_max_ms: milliseconds.default(900_000),
}).refine((r) => r.action !== 'http' || r.http_url !== undefined, { message: 'action http needs http_url', path: ['http_url'] })
  .refine((r) => r.action !== 'command' || r.command !== undefined, { message: 'action command needs command', path: ['command'] });

export const configSchema = z.strictObject({
  listen: listen.prefault({}),
  admin: admin.prefault({}),
  upstream: upstream.prefault({}),
  limits: limits.prefault({}),
  retries: retries.prefault({}),
  depool: depool.prefault({}),
  shutdown: shutdown.prefault({}),
  logging: logging.prefault({}),
  service: service.prefault({}),
  reconcile: reconcile.prefault({}),
  remediation: remediation.prefault({}),
  cassandra,
});

/**
 * A file that could not be read: the sidecar runs without it, and says so (/status, logs, a metric).
 * `config`: the --config file itself (its ConfigMap not there); the sidecar then only proxies.
 */
export interface Lacking {
  setting: 'config' | 'cassandra.username_file' | 'cassandra.password_file' | 'admin.token_file';
  file: string;
  why: string;
}

export type Config = z.infer<typeof configSchema> & {
  /** Secrets whose files were missing or unreadable when the configuration was loaded. */
  lacking: Lacking[];
};
export type ConfigInput = z.input<typeof configSchema>;
