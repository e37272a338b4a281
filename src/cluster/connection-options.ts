// How the sidecar authenticates to Cassandra and verifies it: password auth and TLS
// from the configuration. The secrets stay in these objects; nothing logs them.
//
// Kubernetes rotates a mounted Secret in place (it swaps a symlink), and the sidecar
// keeps running. So what comes from a file is read again for every new connection:
// the driver asks the auth provider for an authenticator, and copies the TLS options'
// properties, each time it connects. Open connections stay as they are (Cassandra does
// not ask an authenticated connection again); the next one, after a node restart or a
// network blip, uses what the files hold then (src/config/rotating-file.ts).
import cassandra from 'cassandra-driver';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { latest, secretText } from '../config/rotating-file.ts';
import type { Config } from '../config/schema.ts';

export interface CassandraSecurity {
  sslOptions?: ConnectionOptions;
  authProvider?: cassandra.auth.AuthProvider;
}

/**
 * The role's name and password from their files (when configured by file) at each new
 * connection. The driver's own plain-text provider, whose authenticator takes the
 * `username` and `password` it holds when the driver asks: those are refreshed first.
 */
class RotatingPasswordAuthProvider extends cassandra.auth.PlainTextAuthProvider {
  readonly #username: () => string;
  readonly #password: () => string;

  constructor(username: () => string, password: () => string) {
    super(username(), password());
    this.#username = username;
    this.#password = password;
  }

  override newAuthenticator(endpoint: string, name: string): cassandra.auth.Authenticator {
    Object.assign(this, { username: this.#username(), password: this.#password() });
    return super.newAuthenticator(endpoint, name);
  }
}

export function cassandraSecurity(config: Config['cassandra']): CassandraSecurity {
  const security: CassandraSecurity = {};
  if (config.username !== undefined) {
    const { username, password = '', username_file: usernameFile, password_file: passwordFile } = config;
    security.authProvider = new RotatingPasswordAuthProvider(
      usernameFile === undefined ? () => username : latest(usernameFile, secretText, username),
      passwordFile === undefined ? () => password : latest(passwordFile, secretText, password),
    );
  }
  if (config.tls) {
    const { ca_file: caFile, cert_file: certFile, key_file: keyFile, verify_hostname: verifyHostname } = config.tls;
    const sslOptions: ConnectionOptions = {
      rejectUnauthorized: true,
      ...(verifyHostname ? {} : { checkServerIdentity: () => undefined }),
    };
    // Enumerable getters: the driver copies the options' own properties at every connection, so each reads the file then.
    const fromFile = (name: 'ca' | 'cert' | 'key', file: string): void => {
      Object.defineProperty(sslOptions, name, { enumerable: true, get: latest(file, (content) => content, readFileSync(file)) });
    };
    fromFile('ca', caFile);
    if (certFile) fromFile('cert', certFile);
    if (keyFile) fromFile('key', keyFile);
    security.sslOptions = sslOptions;
  }
  return security;
}
