// The Dockerfile's promises, read from the file itself: every base pinned to an exact
// release (an ARG's default counts: the lab builds on a base of its own, lab/image), a
// build stage apart from the runtime, production dependencies only, a numeric non-root
// user, and the package's own command as the entrypoint.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const root = join(import.meta.dirname, '../..');

interface Stage { base: string; name: string; lines: string[] }

/**
 * The stages of a Dockerfile, continuation lines joined and comments dropped. A base
 * named by an ARG before the first FROM is that ARG's default: what a build that passes
 * no --build-arg pulls.
 */
function stagesOf(dockerfile: string): Stage[] {
  const stages: Stage[] = [];
  const defaults = new Map<string, string>();
  const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of instructions) {
    const arg = /^ARG\s+(\w+)(?:=(\S+))?$/i.exec(line);
    if (arg && stages.length === 0) { if (arg[2] !== undefined) defaults.set(arg[1] ?? '', arg[2]); continue; }
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.push({ base: (from[1] ?? '').replace(/\$\{?(\w+)\}?/g, (whole, name: string) => defaults.get(name) ?? whole), name: from[2] ?? '', lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

/** What is wrong with a Dockerfile; empty when nothing is. */
function dockerfileProblems(dockerfile: string, entrypoint: string[]): string[] {
  const stages = stagesOf(dockerfile);
  const problems: string[] = [];
  const stageNames = new Set(stages.map((s) => s.name));
  for (const { base } of stages) {
    if (stageNames.has(base)) continue;
    // An exact release: name:MAJOR.MINOR.PATCH[-variant], optionally with a digest.
    if (!/^[\w./-]+:\d+\.\d+\.\d+(-[\w.-]+)?(@sha256:[0-9a-f]{64})?$/.test(base)) problems.push(`base ${base} is not pinned to an exact version`);
  }
  const runtime = stages.at(-1);
  if (!runtime) return ['no stages'];
  if (!stages.slice(0, -1).some((s) => s.lines.some((l) => /\b(tsc|npm run build)\b/.test(l)))) problems.push('no build stage compiles the TypeScript');
  if (runtime.lines.some((l) => /\b(tsc|npm (ci|install))\b/.test(l))) problems.push('the runtime stage builds or installs; it should only copy');
  if (!stages.some((s) => s.lines.some((l) => /npm ci\b.*--omit=dev/.test(l)))) problems.push('no stage installs production dependencies only (npm ci --omit=dev)');
  if (!runtime.lines.some((l) => /^COPY --from=\S+ \S*node_modules/.test(l))) problems.push('the runtime stage does not copy node_modules from another stage');
  if (!runtime.lines.some((l) => /^COPY --from=\S+ \S*dist/.test(l))) problems.push('the runtime stage does not copy dist/ from the build stage');
  const user = runtime.lines.filter((l) => /^USER\s/i.test(l)).at(-1)?.split(/\s+/)[1];
  if (user === undefined) problems.push('the runtime stage sets no USER: it would run as root');
  else if (!/^\d+(:\d+)?$/.test(user)) problems.push(`USER ${user} is not numeric: Kubernetes' runAsNonRoot cannot verify a name`);
  else if (user.split(':').some((id) => Number(id) === 0)) problems.push(`USER ${user} is root`);
  const entry = runtime.lines.find((l) => /^ENTRYPOINT\s/i.test(l))?.replace(/^ENTRYPOINT\s+/i, '');
  if (entry === undefined || !entry.startsWith('[')) problems.push('ENTRYPOINT is not in exec form: a shell would be PID 1 and swallow SIGTERM');
  else if (JSON.stringify(JSON.parse(entry)) !== JSON.stringify(entrypoint)) problems.push(`ENTRYPOINT ${entry} is not ${JSON.stringify(entrypoint)}`);
  if (!runtime.lines.some((l) => /^ENV NODE_OPTIONS=".*--max-old-space-size=\d+/.test(l))) problems.push('NODE_OPTIONS sets no heap limit');
  return problems;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const entrypoint = ['node', pkg.bin['sessionstore-sidecar'] ?? '?'];
const shipped = readFileSync(join(root, 'Dockerfile'), 'utf8');

void t.test('the shipped Dockerfile keeps every promise', (t) => {
  t.same(dockerfileProblems(shipped, entrypoint), []);
  t.same(stagesOf(shipped).map((s) => s.name), ['build', 'production-dependencies', 'runtime'], 'three named stages');
  t.end();
});

void t.test('the check fails on what it must refuse', (t) => {
  const refusals: [string, RegExp][] = [
    [shipped.replaceAll('node:24.21.0-trixie-slim', 'node:24-trixie-slim'), /base node:24-trixie-slim is not pinned/],
    [shipped.replaceAll('node:24.21.0-trixie-slim', 'node:latest'), /base node:latest is not pinned/],
    [shipped.replace('ARG NODE_BASE=node:24.21.0-trixie-slim', 'ARG NODE_BASE'), /base \$\{NODE_BASE\} is not pinned/],
    [shipped.replace('USER 65532:65532', 'USER root'), /USER root is not numeric/],
    [shipped.replace('USER 65532:65532', 'USER 0:0'), /USER 0:0 is root/],
    [shipped.replace(/^USER .*$/m, ''), /sets no USER/],
    [shipped.replace('RUN npx tsc -p tsconfig.build.json', ''), /no build stage compiles/],
    [shipped.replace(/--omit=dev /, ''), /production dependencies only/],
    [shipped.replace(/^COPY --from=build .*$/m, ''), /does not copy dist/],
    [shipped.replace('ENTRYPOINT ["node", "dist/cli.js"]', 'ENTRYPOINT node dist/cli.js'), /not in exec form/],
    [shipped.replace(/^ENV NODE_OPTIONS=.*$/m, ''), /no heap limit/],
    [`${shipped}RUN npm ci\n`, /the runtime stage builds or installs/],
  ];
  for (const [dockerfile, expected] of refusals) t.match(dockerfileProblems(dockerfile, entrypoint).join('\n'), expected, String(expected));
  t.end();
});
