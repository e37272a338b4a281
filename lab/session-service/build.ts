// Builds the lab's session service (Go, in this folder) against the gocql that Debian
// ships (golang-github-gocql-gocql-dev 1.3.2, the version Kask ran), in GOPATH mode:
// no module is downloaded, every import comes from /usr/share/gocode. The binary goes
// to the git-ignored cache and is rebuilt only when a source file is newer than it.
// On a fresh machine (root, apt-get) the two Debian packages are installed first, as
// the project's other tools are; elsewhere the error names the command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../cluster/layout.ts';
import { MissingToolError } from '../cluster/install.ts';

const sources = import.meta.dirname;
const gopath = '/usr/share/gocode';
const gocqlSource = join(gopath, 'src/github.com/gocql/gocql');
const debianPackages = ['golang-go', 'golang-github-gocql-gocql-dev'];

export const serviceBinary = join(paths.cache, 'session-service', 'session-service');

const newestSource = (): number =>
  Math.max(...readdirSync(sources).filter((f) => f.endsWith('.go')).map((f) => statSync(join(sources, f)).mtimeMs));

function ensureToolchain(log: (line: string) => void): void {
  const haveGo = spawnSync('go', ['version']).status === 0;
  if (haveGo && existsSync(gocqlSource)) return;
  const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
  if (!canInstall) {
    throw new MissingToolError(`The lab's session service is built with Debian's Go and gocql. Install them with: apt-get install -y ${debianPackages.join(' ')}`);
  }
  log(`installing ${debianPackages.join(' ')} from Debian`);
  execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...debianPackages], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Returns the service's binary, building it first when it is missing or older than its sources. */
export function ensureServiceBinary(log: (line: string) => void = () => {}): string {
  if (existsSync(serviceBinary) && statSync(serviceBinary).mtimeMs >= newestSource()) return serviceBinary;
  ensureToolchain(log);
  mkdirSync(join(paths.cache, 'session-service'), { recursive: true });
  const started = Date.now();
  const built = spawnSync('go', ['build', '-o', serviceBinary, '.'], {
    cwd: sources,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOCACHE: join(paths.cache, 'go-build'), GOFLAGS: '' },
  });
  if (built.status !== 0) throw new Error(`building the lab's session service failed:\n${built.stderr}`);
  log(`built the session service (Go, gocql from Debian) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return serviceBinary;
}
