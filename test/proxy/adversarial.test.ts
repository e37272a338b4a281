// The adversarial corpus (lab/adversary) against the sidecar as a process, in its
// short form: every case, twice, 32 connections at once. After each family: every
// answer as the contract says, the upstream got exactly what clients completed, no
// in-flight slot or client connection left, the file descriptors back to where they
// were, a normal request still quick. The long
// form (100,000 requests, and nginx for reference) is `npm run test:adversarial`.
import t from 'tap';
import { families } from '../../lab/adversary/corpus.ts';
import { attack } from '../../lab/adversary/run.ts';
import { sidecarTarget } from '../../lab/adversary/targets.ts';
import { startRecordingUpstream } from '../../lab/adversary/upstream.ts';

void t.test('the adversarial corpus, short form', async (t) => {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  const sidecar = await sidecarTarget(t, upstream.url);
  const warm = await attack(sidecar, upstream, { repeat: 1, concurrency: 8, only: ['methods'] });
  const before = warm[0]?.rssMb ?? 0;
  const reports = await attack(sidecar, upstream, { repeat: 2, concurrency: 32 });
  t.same(reports.map((r) => r.family), families, 'every family ran');
  for (const report of reports) {
    t.same(report.violations, [], `${report.family}: ${report.connections} connections, ${report.requests} requests, all within the contract`);
    t.equal(report.inflightAfter, 0, `${report.family}: the in-flight gauge is back to 0`);
    t.equal(report.clientConnectionsAfter, 0, `${report.family}: no client connection left`);
    t.ok(report.descriptorsAfter <= report.descriptorsBefore + 16, `${report.family}: ${report.descriptorsAfter} file descriptors after, ${report.descriptorsBefore} before the corpus`);
    t.ok(report.normalRequestMs < 1000, `${report.family}: a normal request answered in ${report.normalRequestMs} ms`);
  }
  const after = reports.at(-1)?.rssMb ?? 0;
  t.ok(after <= before * 1.2 + 10, `RSS ${before} MB before the corpus, ${after} MB after (bound: 20% + 10 MB)`);
});
