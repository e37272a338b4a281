// The lab's Go programs (the session service, the bench's open-loop load generator) are
// built with Debian's Go against Go libraries Debian ships, in GOPATH mode: no module is
// downloaded, every import comes from /usr/share/gocode. A binary goes to the git-ignored
// cache and is rebuilt only when a source file is newer than it. On a fresh machine
// (root, apt-get) the Debian packages are installed first, as the project's other tools
// are; elsewhere the error names the command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { paths } from './cluster/layout.ts';
import { MissingToolError } from './cluster/install.ts';

const gopath = '/usr/share/gocode';

export interface GoProgram {
  /** What it is, for messages. */
  name: string;
  /** The folder of its .go files. */
  sources: string;
  /** Where its binary goes. */
  binary: string;
  /** The Debian packages of the libraries it imports, each with one of its source folders under /usr/share/gocode/src. */
  libraries: Record<string, string>;
}

const newestSource = (sources: string): number =>
  Math.max(...readdirSync(sources).filter((f) => f.endsWith('.go')).map((f) => statSync(join(sources, f)).mtimeMs));

function ensureToolchain(program: GoProgram, log: (line: string) => void): void {
  const missing = [
    ...(spawnSync('go', ['version']).status === 0 ? [] : ['golang-go']),
    ...Object.entries(program.libraries).filter(([, source]) => !existsSync(join(gopath, 'src', source))).map(([name]) => name),
  ];
  if (missing.length === 0) return;
  const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
  if (!canInstall) throw new MissingToolError(`${program.name} is built with Debian's Go and Go libraries. Install them with: apt-get install -y ${missing.join(' ')}`);
  log(`installing ${missing.join(' ')} from Debian`);
  execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Returns the program's binary, building it first when it is missing or older than its sources. */
export function ensureGoProgram(program: GoProgram, log: (line: string) => void = () => {}): string {
  if (existsSync(program.binary) && statSync(program.binary).mtimeMs >= newestSource(program.sources)) return program.binary;
  ensureToolchain(program, log);
  mkdirSync(dirname(program.binary), { recursive: true });
  const started = Date.now();
  const built = spawnSync('go', ['build', '-o', program.binary, '.'], {
    cwd: program.sources,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOCACHE: join(paths.cache, 'go-build'), GOFLAGS: '' },
  });
  if (built.status !== 0) throw new Error(`building ${program.name} failed:\n${built.stderr}`);
  log(`built ${program.name} (Go, libraries from Debian) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return program.binary;
}
