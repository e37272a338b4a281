// The demo's HTML report in a real browser (Debian's chromium, which .ci/run installs),
// offline: every request but the file itself is refused and counted. Its charts must be
// painted with data, and nothing may fail in the console.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Test } from 'tap';

/** Run in the page (browser JavaScript): each canvas, its chart's series lengths, and how many of its pixels are painted. */
const inBrowser = `[...document.querySelectorAll('canvas')].map((canvas) => {
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return { id: canvas.id, points: chart ? chart.data.datasets.map((d) => d.data.length) : [], painted };
})`;

/** Opens `report` (in `dir`, beside its screenshot): `charts.count` charts painted, no console error, nothing fetched; returns the page's text. */
export async function checkReportInBrowser(t: Test, dir: string, report: string, charts: { count: number; what: string }): Promise<string> {
  const executablePath = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
  t.ok(executablePath, 'Debian\'s chromium is installed (.ci/run installs it)');
  const browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  // Closed before the test ends: tap removes the test's directory first among its
  // teardowns, and a browser still writing its profile there fails that removal.
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const fetched: string[] = [];
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    page.on('pageerror', (error) => { problems.push(error.message); });
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith('file:')) return route.continue();
      fetched.push(route.request().url());
      return route.abort();
    });
    await page.goto(`file://${report}`);
    const painted = await page.evaluate<{ id: string; points: number[]; painted: number }[]>(inBrowser);
    t.equal(painted.length, charts.count, `${charts.count} charts: ${charts.what}`);
    for (const chart of painted) {
      t.ok(chart.points.length === 2 && chart.points.every((n) => n > 10), `${chart.id}: both series hold data (${chart.points.join(', ')} points)`);
      t.ok(chart.painted > 1000, `${chart.id}: the canvas is painted (${chart.painted} pixels)`);
    }
    t.same(problems, [], 'no console errors');
    t.same(fetched, [], 'nothing fetched from the network: the report is self-contained');
    const screenshot = join(dir, 'demo-report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    t.ok(existsSync(screenshot) && statSync(screenshot).size > 10_000, 'a screenshot beside the report');
    return await page.innerText('body');
  } finally {
    await browser.close();
  }
}
