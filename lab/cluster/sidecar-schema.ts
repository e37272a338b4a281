// The sidecar's tables and role, from the file production runs
// (k8s/cassandra/sidecar-role.cql), so the lab and the tests use exactly that.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const sidecarRoleFile = join(import.meta.dirname, '../../k8s/cassandra/sidecar-role.cql');
export const sidecarRoleName = 'sessionstore_sidecar';

/** The file's statements, comments dropped, as cqlsh -f would run them. */
function statements(): string[] {
  return readFileSync(sidecarRoleFile, 'utf8').split('\n').filter((line) => !line.trimStart().startsWith('--')).join('\n')
    .split(';').map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean);
}

/** The CREATE TABLE statements: what the lab's schema needs. */
export function sidecarTables(): string[] {
  return statements().filter((s) => s.startsWith('CREATE TABLE'));
}

/** The role and its grants, with this password. */
export function sidecarRole(password: string): string[] {
  return statements().filter((s) => !s.startsWith('CREATE TABLE')).map((s) => s.replace('REPLACE-WITH-THE-ROLE-PASSWORD', password));
}
