// Secrets rotated on disk while the sidecar runs, as Kubernetes rotates a mounted Secret
// (the new content swapped in whole): the Cassandra role's password, changed in the
// cluster and in its file; the client certificate and key, the old certificate expiring
// soon after; and the admin token. Open connections stay as they are; the next ones,
// after a network blip has cut the sidecar's connections to node 3 (iptables resets
// them, scoped to the sidecar's group) and the old certificate has expired, present
// the new certificate and the new password. The view never loses LOCAL_QUORUM or nodes
// 1 and 2, node 3 comes back, and only the new token opens the operator actions.
// A sidecar that read its secrets once would be refused by node 3 for good.
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { certificateAuthorityIn, type CertificateAuthority } from '../../lab/certs.ts';
import { blockGroupFrom, clusterTls, heal, localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { sidecarRole, sidecarRoleName } from '../../lab/cluster/sidecar-schema.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { until } from '../../lab/session-service/harness.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { startUpstream } from '../support/http.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const sidecarGroup = 4244;
const asAdmin = (statement: string): Promise<unknown> => queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);

interface Status { cluster: { localQuorum: { available: boolean }; nodes: { address: string; reachable: boolean; canCoordinateLocalQuorum: boolean | null }[] } }

/** A signing authority of the cluster's own CA, in a folder of the test's. */
function clusterAuthority(t: Test): CertificateAuthority {
  const dir = temporaryDirectory(t, 'rotation-ca-');
  copyFileSync(clusterTls.caFile, join(dir, 'ca.crt'));
  copyFileSync(join(clusterTls.caFile, '../ca.key'), join(dir, 'ca.key'));
  return certificateAuthorityIn(dir);
}

void t.test('a rotated password, client certificate and token are used without a restart; the view keeps going', async (t) => {
  const [oldPassword, newPassword] = ['rotation-old-password', 'rotation-new-password'];
  const [oldToken, newToken] = ['old-token-of-at-least-32-characters', 'new-token-of-at-least-32-characters'];
  await asAdmin(`DROP ROLE IF EXISTS ${sidecarRoleName}`);
  for (const statement of sidecarRole(oldPassword)) await asAdmin(statement);
  const created = Date.now();
  t.teardown(() => asAdmin(`DROP ROLE IF EXISTS ${sidecarRoleName}`));
  const ca = clusterAuthority(t);
  const oldCertificateExpires = new Date(Date.now() + 25_000);
  const oldCertificate = ca.issue('sidecar-old', { notAfter: oldCertificateExpires });
  const newCertificate = ca.issue('sidecar-new');

  const secrets = temporaryDirectory(t, 'rotated-secrets-');
  // As the kubelet does: the new content is written aside and swapped in whole.
  const rotate = (name: string, value: string): string => {
    writeFileSync(join(secrets, `.${name}.new`), `${value}\n`);
    renameSync(join(secrets, `.${name}.new`), join(secrets, name));
    return join(secrets, name);
  };
  const upstream = await startUpstream(t);
  const sidecar = await startSidecar(t, upstream.url, join(secrets, 'no-service.pid'), {
    cassandra: {
      username: undefined, password: undefined, username_file: rotate('username', sidecarRoleName), password_file: rotate('password', oldPassword),
      tls: { ca_file: clusterTls.caFile, cert_file: rotate('tls.crt', oldCertificate.cert), key_file: rotate('tls.key', oldCertificate.key), verify_hostname: false },
    },
    admin: { token_file: rotate('token', oldToken) },
  }, { prefix: ['setpriv', `--regid=${sidecarGroup}`, '--clear-groups', '--'] });
  const status = async (): Promise<Status> => await sidecar.status() as unknown as Status;
  const allCoordinate = (s: Status): boolean => s.cluster.nodes.length === 3 && s.cluster.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true);
  await until(async () => allCoordinate(await status()), 30_000, 'every node probed with the old password and certificate');

  // Cassandra 5 lets a role's password change at most every 5 s.
  await sleep(Math.max(0, created + 5500 - Date.now()));
  await asAdmin(`ALTER ROLE ${sidecarRoleName} WITH PASSWORD = '${newPassword}'`);
  rotate('password', newPassword);
  rotate('tls.crt', newCertificate.cert);
  rotate('tls.key', newCertificate.key);
  rotate('token', newToken);
  const pause = async (token: string): Promise<number> => {
    const response = await request(`${sidecar.adminUrl}/remediation/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, reset: true });
    await response.body.dump();
    return response.statusCode;
  };
  t.equal(await pause(oldToken), 401, 'the old token no longer opens the operator actions');
  t.equal(await pause(newToken), 200, 'the new one does, without a restart');

  // A network blip resets the sidecar's connections to node 3; it ends once the old certificate has expired.
  const seen: Status[] = [];
  const blip = { over: false };
  const watching = (async () => {
    while (!blip.over) {
      seen.push(await status());
      await sleep(500);
    }
  })();
  blockGroupFrom(sidecarGroup, 3);
  await sleep(Math.max(3000, oldCertificateExpires.getTime() + 1000 - Date.now()));
  heal();
  const loggedBefore = sidecar.logs.length;
  await until(async () => allCoordinate(await status()), 30_000, 'node 3 probed again, with the new password and certificate');
  blip.over = true;
  await watching;
  t.ok(seen.length > 0 && seen.every((s) => s.cluster.localQuorum.available), 'LOCAL_QUORUM never looked lost: nothing to page');
  t.ok(seen.every((s) => s.cluster.nodes.filter((n) => n.address !== localNode(3).address).every((n) => n.reachable)), 'nodes 1 and 2 never left the view');
  t.notOk(sidecar.logs.slice(loggedBefore).some((l) => /password|authenticat|certificate/i.test(JSON.stringify(l))), 'no authentication or certificate failure after the blip');
});
