import cassandra from 'cassandra-driver';

const { Client, policies, types } = cassandra;

export interface CoordinatorClientOptions {
  /** Node address, IPv4 or IPv6, without port. */
  address: string;
  port?: number;
  localDataCenter: string;
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  authProvider?: cassandra.auth.AuthProvider;
  sslOptions?: import('node:tls').ConnectionOptions;
}

/**
 * A cassandra-driver Client that talks to exactly one node, used as coordinator for
 * every query. The allow-list keeps the driver from opening pools to, or routing
 * through, any other node, so one node's trouble (or the driver's stale state about
 * it) never leaks into another node's observations.
 */
export function connectToCoordinator(options: CoordinatorClientOptions): cassandra.Client {
  const port = options.port ?? 9042;
  const endpoint = options.address.includes(':') ? `[${options.address}]:${port}` : `${options.address}:${port}`;
  return new Client({
    contactPoints: [options.address],
    localDataCenter: options.localDataCenter,
    protocolOptions: { port },
    policies: {
      loadBalancing: new policies.loadBalancing.AllowListPolicy(
        new policies.loadBalancing.DCAwareRoundRobinPolicy(options.localDataCenter),
        [endpoint],
      ),
      // Retrying on "another host" is meaningless with one host and would hide errors.
      retry: new policies.retry.FallthroughRetryPolicy(),
      reconnection: new policies.reconnection.ConstantReconnectionPolicy(1000),
    },
    pooling: { coreConnectionsPerHost: { [types.distance.local]: 1, [types.distance.remote]: 0 }, warmup: true },
    socketOptions: {
      connectTimeout: options.connectTimeoutMs ?? 2000,
      readTimeout: options.readTimeoutMs ?? 5000,
    },
    isMetadataSyncEnabled: false,
    ...(options.authProvider ? { authProvider: options.authProvider } : {}),
    ...(options.sslOptions ? { sslOptions: options.sslOptions } : {}),
  });
}

export const { consistencies } = types;

/**
 * Shuts a driver client down, also one still connecting: the driver ignores
 * shutdown() while it connects (it checks `connected` first), which would leave the
 * connection, and the process, open for good. So a connecting client is shut down
 * once its attempt ends.
 */
export async function shutDownClient(client: cassandra.Client): Promise<void> {
  if ((client as unknown as { connecting: boolean }).connecting) await client.connect().catch(() => undefined);
  await client.shutdown().catch(() => undefined);
}
