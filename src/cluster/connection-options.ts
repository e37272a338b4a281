// How the sidecar authenticates to Cassandra and verifies it: password auth and TLS
// from the configuration. The secrets stay in these objects; nothing logs them.
import cassandra from 'cassandra-driver';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';

export interface CassandraSecurity {
  sslOptions?: ConnectionOptions;
  authProvider?: cassandra.auth.AuthProvider;
}

export function cassandraSecurity(config: Config['cassandra']): CassandraSecurity {
  const security: CassandraSecurity = {};
  if (config.username !== undefined) {
    security.authProvider = new cassandra.auth.PlainTextAuthProvider(config.username, config.password ?? '');
  }
  if (config.tls) {
    security.sslOptions = {
      ca: readFileSync(config.tls.ca_file),
      ...(config.tls.cert_file ? { cert: readFileSync(config.tls.cert_file) } : {}),
      ...(config.tls.key_file ? { key: readFileSync(config.tls.key_file) } : {}),
      rejectUnauthorized: true,
      ...(config.tls.verify_hostname ? {} : { checkServerIdentity: () => undefined }),
    };
  }
  return security;
}
