// tap runs this once before all test files: one cluster shared by the whole suite.
// It starts whatever is not running and remembers whether it started anything, so
// after-tests.ts leaves the machine as it found it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status, up } from '../../lab/cluster/cluster.ts';
import { paths } from '../../lab/cluster/layout.ts';

const nodes = await status();
if (nodes.every((node) => node.answersCql)) {
  console.log('# local Cassandra cluster already up; the tests use it and leave it running');
} else {
  await up((line) => {
    console.log(`# [cluster] ${line}`);
  });
  writeFileSync(join(paths.cluster, 'started-by-tests'), new Date().toISOString());
}
