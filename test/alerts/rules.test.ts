// The shipped alert rules, checked and unit-tested by Prometheus's own promtool: each
// incident's metric shapes, the split view and a normal day (test/alerts/scenarios.ts),
// with production `for:` values. And proof that these tests bite: rules made slower or
// noisier fail them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { alerts, recordingRules, ruleGroups, runbookAnchor, runbookUrl, sidecarJob } from '../../k8s/monitoring/alerts.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { validateObject } from '../support/kubernetes.ts';
import { promtool, type PromtoolOutcome } from '../support/promtool.ts';
import { promtoolTest, scenarios, type Scenario } from './scenarios.ts';

const root = join(import.meta.dirname, '../..');
const rulesFile = join(root, 'k8s/monitoring/sessionstore-sidecar.rules.yaml');
const dir = temporaryDirectory(t, 'alert-rules-');

/** Runs one scenario against a rules file; the outcome of promtool test rules. */
function testScenario(scenario: Scenario, rules = rulesFile): Promise<PromtoolOutcome> {
  const file = join(dir, `${scenario.name.replace(/\W+/g, '-').slice(0, 60)}-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(file, stringify({ rule_files: [rules], evaluation_interval: '30s', tests: [promtoolTest(scenario)] }, { lineWidth: 0 }));
  return promtool('test', 'rules', file);
}

/** The shipped rules with one change, as a file. */
function variant(name: string, change: (groups: ReturnType<typeof ruleGroups>) => void, forScale = 1): string {
  const groups = ruleGroups({ for: forScale });
  change(groups);
  const file = join(dir, `variant-${name}.yaml`);
  writeFileSync(file, stringify({ groups }, { lineWidth: 0 }));
  return file;
}

const scenario = (prefix: string): Scenario => {
  const found = scenarios.find((s) => s.name.startsWith(prefix));
  if (!found) throw new Error(`no scenario ${prefix}`);
  return found;
};

void t.test('promtool check rules: the shipped file is valid', async (t) => {
  const { code, output } = await promtool('check', 'rules', rulesFile);
  t.equal(code, 0, output);
  t.match(output, `SUCCESS: ${alerts.length + recordingRules.length} rules found`);
});

void t.test('the same groups, from one source, in both shipped files; the PrometheusRule is a valid object', (t) => {
  const plain = parse(readFileSync(rulesFile, 'utf8')) as { groups: unknown };
  const operator = parse(readFileSync(join(root, 'k8s/monitoring/prometheusrule.yaml'), 'utf8')) as { spec: { groups: unknown } };
  t.same(plain.groups, ruleGroups(), 'the rules file is what k8s/monitoring/alerts.ts makes');
  t.same(operator.spec.groups, plain.groups, 'the PrometheusRule has the same groups');
  t.doesNotThrow(() => { validateObject(operator); }, 'and validates against the Prometheus Operator\'s schema');
  t.end();
});

void t.test('every alert: CamelCase, a severity, words for humans, and a runbook section that exists', (t) => {
  const runbook = readFileSync(join(root, 'docs/runbook.md'), 'utf8');
  const headings = new Set([...runbook.matchAll(/^## (\S+)$/gm)].map((m) => runbookAnchor(m[1] ?? '')));
  for (const rule of ruleGroups()[0]?.rules ?? []) {
    const { alert, labels, annotations } = rule as { alert: string; labels: Record<string, string>; annotations: Record<string, string> };
    t.match(alert, /^SessionStore[A-Z][A-Za-z]+$/, `${alert}: CamelCase`);
    t.match(labels.severity, /^(page|ticket)$/, `${alert}: severity ${labels.severity}`);
    t.ok(annotations.summary && annotations.description && annotations.description.length > 80, `${alert}: summary and description`);
    t.equal(annotations.runbook_url, `${runbookUrl}#${runbookAnchor(alert)}`);
    t.ok(headings.has(runbookAnchor(alert)), `${alert}: docs/runbook.md has its section`);
  }
  t.end();
});

void t.test('the scrape job the alerts expect: valid Prometheus configuration', async (t) => {
  const config = parse(readFileSync(join(root, 'k8s/monitoring/scrape-config.yaml'), 'utf8')) as { scrape_configs: Record<string, unknown>[] };
  const [job] = config.scrape_configs;
  t.equal(job?.job_name, sidecarJob, 'the job name the alerts select');
  // Debian's Prometheus has no Kubernetes discovery: a static target stands in for it, the relabelling is checked as shipped.
  const checkable = join(dir, 'scrape-config.yaml');
  const { kubernetes_sd_configs: discovery, ...rest } = job ?? {};
  t.ok(discovery, 'it discovers pods through Kubernetes');
  writeFileSync(checkable, stringify({ scrape_configs: [{ ...rest, static_configs: [{ targets: ['pod:9364'] }] }] }));
  const { code, output } = await promtool('check', 'config', checkable);
  t.equal(code, 0, output);
});

for (const s of scenarios) {
  void t.test(`promtool test rules: ${s.name}`, async (t) => {
    const { code, output } = await testScenario(s);
    t.equal(code, 0, output);
    t.match(output, 'SUCCESS');
    const pages = s.fires.filter((f) => alerts.find((a) => a.alert === f.alert)?.severity === 'page');
    t.comment(pages.length === 0 ? 'no page' : pages.map((f) => `${f.alert} fires at ${f.from} min`).join('; '));
  });
}

void t.test('the tests bite: rules that page later, page on a normal day, or page twice for one outage fail them', async (t) => {
  const slower = variant('for-doubled', () => undefined, 2);
  t.match(await testScenario(scenario('2023-01-24 as it happened'), slower), { code: 1, output: /SessionStoreCoordinatorCannotAchieveLocalQuorum/ }, 'for: doubled: the T327954 page comes too late');
  const noisier = variant('no-for', () => undefined, 0);
  t.match(await testScenario(scenario('a normal day'), noisier), { code: 1, output: /SessionStoreCoordinatorCannotAchieveLocalQuorum/ }, 'no for: a rebooted node\'s first seconds page on a normal day');
  const without = (name: string, exceptionFor: string): string => variant(name, (groups) => {
    const rule = groups[0]?.rules.find((r) => r.alert === 'SessionStoreErrorRateHigh');
    if (rule) rule.expr = String(rule.expr).replace(new RegExp(`\\nunless on \\(job\\)[^\\n]*${exceptionFor}[^\\n]*`), '');
    return groups;
  });
  t.match(await testScenario(scenario('two nodes down'), without('no-quorum-exception', 'SessionStoreLocalQuorumUnavailable')), { code: 1, output: /SessionStoreErrorRateHigh/ }, 'without its quorum exception the error alert pages a second time for an outage');
  t.match(await testScenario(scenario('a node\'s disk past the guardrail'), without('no-disk-exception', 'SessionStoreCassandraDiskFull')), { code: 1, output: /SessionStoreErrorRateHigh/ }, 'without its full-disk exception it pages for the writes a full disk refuses, naming the wrong cause');
  const countingEveryDelete = variant('no-each-quorum-exception', (groups) => {
    const rule = groups[0]?.rules.find((r) => r.alert === 'SessionStoreErrorRateHigh');
    if (rule) rule.expr = String(rule.expr).replace(/\n\s*unless on \(job\) \(avg by \(job, dc\)[^\n]*/, '');
    return groups;
  });
  t.match(await testScenario(scenario('the other data center without quorum'), countingEveryDelete), { code: 1, output: /SessionStoreErrorRateHigh/ }, 'counting the deletes another data center fails, it pages for them, naming the wrong cause');
});
