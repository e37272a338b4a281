// Fetches Apache Cassandra (cassandra-all and its runtime dependencies) from Maven
// Central with Maven, into a git-ignored cache that later runs reuse.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from './layout.ts';

const pomPath = join(import.meta.dirname, 'pom.xml');

/** The Cassandra version, pinned once in pom.xml. */
export const cassandraVersion = ((): string => {
  const match = /<cassandra\.version>([^<]+)<\/cassandra\.version>/.exec(readFileSync(pomPath, 'utf8'));
  if (!match?.[1]) throw new Error(`${pomPath}: no <cassandra.version> property`);
  return match[1];
})();

export class MissingToolError extends Error {
  override name = 'MissingToolError';
}

/** Java 17 or newer must be on PATH; says how to install it when it is not. */
export function checkJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new MissingToolError(
      'Java 17 is needed to run Apache Cassandra 5.0 and `java` was not found on PATH.\n' +
        'Install it with: apt-get install -y openjdk-17-jre-headless',
    );
  }
  const major = Number(/version "(\d+)/.exec(probe.stderr)?.[1]);
  if (!(major >= 17)) {
    throw new MissingToolError(
      `Apache Cassandra 5.0 needs Java 17 or newer, found: ${probe.stderr.split('\n')[0] ?? '?'}.\n` +
        'Install it with: apt-get install -y openjdk-17-jre-headless, and put it first on PATH.',
    );
  }
}

function checkMaven(): void {
  const probe = spawnSync('mvn', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new MissingToolError(
      'Maven is needed once, to fetch Apache Cassandra from Maven Central, and `mvn` was not found on PATH.\n' +
        'Install it with: apt-get install -y maven',
    );
  }
}

/** Returns the folder of Cassandra's jars, fetching them first when the cache lacks them. */
export function ensureCassandra(log: (line: string) => void = () => {}): string {
  const lib = paths.cassandraLib(cassandraVersion);
  if (existsSync(join(lib, `cassandra-all-${cassandraVersion}.jar`))) return lib;
  checkMaven();
  log(`fetching Apache Cassandra ${cassandraVersion} and its dependencies with Maven into ${lib}`);
  // Download into a temporary folder and rename, so an interrupted fetch never looks complete.
  const partial = `${lib}.partial`;
  rmSync(partial, { recursive: true, force: true });
  execFileSync(
    'mvn',
    ['-B', '-q', '-f', pomPath, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  renameSync(partial, lib);
  log(`fetched ${readdirSync(lib).length} jars`);
  return lib;
}
