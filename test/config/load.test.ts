import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';

const dir = temporaryDirectory(t, 'sidecar-config-');
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

void t.test('defaults for everything but the contact points', (t) => {
  const config = parseConfig({ cassandra: { contact_points: ['10.0.0.1'] } });
  t.equal(config.upstream.url, 'http://127.0.0.1:8080', "Kask's port");
  t.equal(config.listen.port, 8089, "none of Kask's or Envoy's");
  t.equal(config.admin.port, 9364, "not Envoy's telemetry port 9361");
  t.equal(config.cassandra.local_data_center, 'dc1');
  t.equal(config.cassandra.probe.interval_ms, 2000);
  t.equal(config.logging.access_log.enabled, false);
  t.throws(() => parseConfig({}), ConfigError);
  t.end();
});

void t.test('secrets from the environment or a file override the YAML', (t) => {
  const path = file('env.yaml', 'cassandra:\n  contact_points: [a]\n  username: from-file\n  password: from-file\n');
  const config = loadConfig(path, { SIDECAR_CASSANDRA_USERNAME: 'env-user', SIDECAR_CASSANDRA_PASSWORD: 'env-secret' });
  t.equal(config.cassandra.username, 'env-user');
  t.equal(config.cassandra.password, 'env-secret');
  const secret = file('password', 'from-secret-file\n');
  const fromFile = loadConfig(file('pf.yaml', `cassandra:\n  contact_points: [a]\n  password_file: ${secret}\n`), {});
  t.equal(fromFile.cassandra.password, 'from-secret-file', 'password_file is read and trimmed');
  t.throws(() => loadConfig(file('pf2.yaml', 'cassandra:\n  contact_points: [a]\n  password_file: /nonexistent\n'), {}), /cassandra\.password_file: cannot read/);
  t.end();
});

void t.test('structural errors name the key', (t) => {
  t.throws(() => loadConfig(file('list.yaml', '- a\n- b\n'), {}), /the top level must be a mapping/);
  t.throws(() => loadConfig(file('dup.yaml', 'cassandra:\n  contact_points: [a]\ncassandra:\n  port: 1\n'), {}), /YAML: .*[Mm]ap keys must be unique/);
  t.throws(() => parseConfig({ cassandra: { contact_points: ['a'], probe: { interval_ms: -1 } } }), /cassandra\.probe\.interval_ms: Too small/);
  t.throws(() => parseConfig({ cassandra: { contact_points: ['a'] }, listen: { tls: { cert_file: 'x' } } }), /listen\.tls\.key_file/);
  t.end();
});
