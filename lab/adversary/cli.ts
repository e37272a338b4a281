// npm run test:adversarial [-- --requests N --concurrency C]: the adversarial corpus
// against the sidecar, at least N requests (default 100,000) over C concurrent
// connections (default 128), then the same against nginx with the same limits, for
// reference. Exits 1 when the sidecar breaks any invariant (see run.ts), or when its RSS
// grows by more than 20% over the corpus's second half.
import { parseArgs } from 'node:util';
import { corpus, families } from './corpus.ts';
import { attack, type FamilyReport } from './run.ts';
import { nginxTarget, sidecarTarget } from './targets.ts';
import { startRecordingUpstream } from './upstream.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '128' } } });
const perPass = corpus.reduce((sum, c) => sum + Math.max(1, ...c.outcomes('adv0').map((o) => o.statuses.length)), 0);
const repeat = Math.ceil(Number(values.requests) / perPass);
const concurrency = Number(values.concurrency);
const cleanups: (() => unknown)[] = [];
const owner = { teardown: (fn: () => unknown) => cleanups.unshift(fn) };
const log = (line: string): void => { console.error(`# ${line}`); };

function table(name: string, reports: FamilyReport[], rssHalfway: number): string {
  const rows = reports.map((r) => `| ${r.family} | ${r.connections} | ${r.requests} | ${r.violations.length} | ${r.inflightAfter ?? '–'} | ${r.clientConnectionsAfter} | ${r.upstreamConnectionsAfter} | ${r.rssMb} | ${r.normalRequestMs} | ${r.seconds} |`);
  const total = reports.reduce((sum, r) => sum + r.requests, 0);
  return [`### ${name}: ${total} requests, RSS ${rssHalfway} MB halfway`, '',
    '| family | connections | requests | outside the contract | in flight after | client connections after | upstream connections | RSS MB | normal request ms | s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|', ...rows, ''].join('\n');
}

let failed = false;
try {
  log(`${corpus.length} cases in ${families.length} families, ${perPass} requests a pass, ${repeat} passes, ${concurrency} connections at once`);
  for (const make of [sidecarTarget, nginxTarget] as const) {
    const upstream = await startRecordingUpstream();
    owner.teardown(() => upstream.close());
    const target = make === sidecarTarget ? await sidecarTarget(owner, upstream.url) : await nginxTarget(owner, upstream.port);
    if (!target) {
      log('nginx is not installed (apt-get install -y nginx-light): no reference run');
      continue;
    }
    // The corpus in two halves. The first sizes the heap for this many connections at once
    // (V8 grows its young generation under load and keeps it: the sidecar's RSS rose from
    // about 150 to 340 MB in it, then stayed within 340 to 385 MB over ten more rounds); the
    // second shows whether memory keeps growing, which a leak does.
    const first = await attack(target, upstream, { repeat: Math.ceil(repeat / 2), concurrency, log });
    const before = first.at(-1)?.rssMb ?? 0;
    const second = await attack(target, upstream, { repeat: Math.ceil(repeat / 2), concurrency, log });
    const reports = [...first, ...second];
    console.log(table(target.name, reports, before));
    for (const r of reports) for (const v of r.violations.slice(0, 5)) console.log(`- ${target.name} ${r.family}: ${v}${r.violations.length > 5 ? ` (and ${r.violations.length - 5} more)` : ''}`);
    const after = second.at(-1)?.rssMb ?? 0;
    console.log(`\n${target.name}: RSS ${before} MB after the first half of the corpus, ${after} MB after the second (${Math.round((after / before - 1) * 100)}%)\n`);
    if (target.name === 'sidecar' && (reports.some((r) => r.violations.length > 0) || after > before * 1.2)) failed = true;
  }
} finally {
  for (const cleanup of cleanups) await cleanup();
}
process.exitCode = failed ? 1 : 0;
