// tap's coverage map: every test file is measured against the product (src/) only.
// The lab, the bench and the tests themselves are not what coverage is about.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const product = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts')).map((file) => join('src', file));

export default function coverageMap(): string[] {
  return product;
}
