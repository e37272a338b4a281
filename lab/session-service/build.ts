// The lab's session service (Go, in this folder), built against the gocql that Debian
// ships (golang-github-gocql-gocql-dev 1.3.2, the version Kask ran): lab/go-program.ts.
import { join } from 'node:path';
import { paths } from '../cluster/layout.ts';
import { ensureGoProgram } from '../go-program.ts';

export const serviceBinary = join(paths.cache, 'session-service', 'session-service');

/** Returns the service's binary, building it first when it is missing or older than its sources. */
export function ensureServiceBinary(log: (line: string) => void = () => {}): string {
  return ensureGoProgram({
    name: 'the lab\'s session service', sources: import.meta.dirname, binary: serviceBinary,
    libraries: { 'golang-github-gocql-gocql-dev': 'github.com/gocql/gocql' },
  }, log);
}
