// docs/configuration.md against the schema: every key is documented, no documented key
// is unknown, and every documented default is the real one.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.ts';

interface JsonSchema { type?: string; default?: unknown; properties?: Record<string, JsonSchema> }

/** Every key path of the schema, with its default (undefined: none). */
function schemaKeys(schema: JsonSchema, prefix = ''): Map<string, unknown> {
  const keys = new Map<string, unknown>();
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    if (child.type === 'object' && child.properties) for (const [k, v] of schemaKeys(child, `${path}.`)) keys.set(k, v);
    else keys.set(path, child.default);
  }
  return keys;
}

function documentedKeys(value: unknown, prefix = ''): Map<string, unknown> {
  const keys = new Map<string, unknown>();
  for (const [name, child] of Object.entries(value as Record<string, unknown>)) {
    const path = `${prefix}${name}`;
    if (child !== null && typeof child === 'object' && !Array.isArray(child)) for (const [k, v] of documentedKeys(child, `${path}.`)) keys.set(k, v);
    else keys.set(path, child);
  }
  return keys;
}

void t.test('docs/configuration.md documents exactly the schema, with its defaults', (t) => {
  const page = readFileSync(join(import.meta.dirname, '../../docs/configuration.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(page)?.[1];
  if (block === undefined) throw new Error('docs/configuration.md has no yaml block');
  const documented = documentedKeys(parse(block));
  const schema = schemaKeys(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema);
  t.same([...schema.keys()].filter((k) => !documented.has(k)), [], 'every key of the schema is documented');
  t.same([...documented.keys()].filter((k) => !schema.has(k)), [], 'no documented key is unknown to the schema');
  const wrong = [...schema].filter(([key, value]) => value !== undefined && JSON.stringify(documented.get(key)) !== JSON.stringify(value));
  t.same(wrong.map(([key, value]) => `${key}: documented ${JSON.stringify(documented.get(key))}, default ${JSON.stringify(value)}`), [], 'every documented default is the real one');
  t.ok(configSchema.safeParse(parse(block)).success, 'and the documented example is a valid configuration');
  t.end();
});

void t.test('every Cassandra table the docs name is one the code uses', (t) => {
  const root = join(import.meta.dirname, '../..');
  const pages = ['README.md', 'SECURITY.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const code = ['src', 'lab/cluster'].flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|go|cql)$/.test(f)).map((f) => readFileSync(join(root, dir, f), 'utf8'))).join('\n');
  const named = new Set(pages.flatMap((page) => [...readFileSync(join(root, page), 'utf8').matchAll(/`(?:<keyspace>|sessions|system|system_views|system_schema)\.(\w+)/g)].map((m) => m[0].slice(1))));
  t.ok(named.size >= 5, `the docs name ${named.size} tables`);
  for (const table of named) {
    const [keyspace, name] = table.split('.');
    // The keyspace is configured: the code names its tables after `${keyspace}.` or the lab's `sessions.`.
    const used = keyspace === '<keyspace>' || keyspace === 'sessions' ? new RegExp(`(\\}|\\bsessions)\\.${name}\\b`).test(code) : code.includes(table);
    t.ok(used, `${table} is used by the code`);
  }
  t.end();
});
