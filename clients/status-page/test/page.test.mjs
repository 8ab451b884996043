// The status page in headless Chromium against a running daemon (INGEST_URL, auth off, with a threshold rule
// page_hot: pagetemp.value above 90 is crit). Run by tests/Ingest.IntegrationTests/StatusPageTests.cs.
// Prints one JSON line with what it measured last; exits non-zero at the first failed check.
import { writeFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';

const base = process.env.INGEST_URL ?? assert.fail('INGEST_URL is not set');
const db = 'pagedb';
const started = Date.now();
const log = (m) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${m}`);

async function write(line) {
  const r = await fetch(`${base}/write?db=${db}`, { method: 'POST', body: line });
  assert.equal(r.status, 204, `write ${line}: ${r.status} ${await r.text()}`);
}

async function until(what, check, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

await fetch(`${base}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' });
// A value written a moment before the page opens; the live state lists its series once flushed.
await write('pagetemp,host=web1 value=21.5');
await until('pagetemp in /api/series', async () => (await (await fetch(`${base}/api/series?measurement=pagetemp`)).json()).length === 1);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const problems = [];
let summary;
let page;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  const statusRequests = [];
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/status') statusRequests.push(Date.now()); });

  const loadedAt = Date.now();
  const answer = await page.goto(base + '/', { waitUntil: 'load' });
  assert.equal(answer.status(), 200);
  log('page loaded');

  // The graph: every stage a box with its rate.
  await page.waitForSelector('#graph .node.stage', { timeout: 10_000 });
  const stages = await page.$$eval('#graph .node.stage', (els) => els.map((e) => e.getAttribute('data-stage')));
  assert.ok(stages.length >= 2, `stages shown: ${stages}`);
  assert.match(await page.$eval('#graph .node.stage', (e) => e.textContent), /rate.*\/s/);
  await page.waitForFunction(() => document.querySelector('#feed-state')?.textContent === 'open', { timeout: 10_000 });
  log(`graph shows ${stages.join(' → ')}; feed open`);

  // Picking the series: its one series and one field are picked with it, and the value written before shows.
  await page.waitForFunction(() => [...document.querySelectorAll('#measurement option')].some((o) => o.value === 'pagetemp'), { timeout: 10_000 });
  await page.select('#measurement', 'pagetemp');
  const latest = () => page.$eval('#latest-value', (e) => e.textContent);
  await page.waitForFunction(() => document.querySelector('#latest-value')?.textContent === '21.5', { timeout: 10_000 }).catch(async () => assert.fail(`latest value shows ${await latest()}, not 21.5`));
  log('the value written before shows');

  // A value written now updates it, through the feed.
  await write('pagetemp,host=web1 value=23.25');
  await page.waitForFunction(() => document.querySelector('#latest-value')?.textContent === '23.25', { timeout: 10_000 }).catch(async () => assert.fail(`latest value shows ${await latest()}, not 23.25`));
  const polyline = await page.$eval('#chart polyline', (e) => e.getAttribute('points'));
  assert.ok(polyline.trim().split(' ').length >= 2, `the chart has ${polyline}`);
  log('a new value updates it, and the chart');

  // An alert made to fire shows, and Acknowledge acknowledges it.
  await write('pagetemp,host=web1 value=95');
  await page.waitForSelector('#alerts tr[data-alert] button.ack', { timeout: 10_000 });
  const id = await page.$eval('#alerts tr[data-alert]', (e) => e.getAttribute('data-alert'));
  assert.match(await page.$eval(`#alerts tr[data-alert="${id}"]`, (e) => e.textContent), /crit.*page_hot/);
  await page.click(`#alerts tr[data-alert="${id}"] button.ack`);
  await page.waitForFunction((id) => document.querySelector(`#alerts tr[data-alert="${id}"] .acked`)?.textContent === 'by anonymous', { timeout: 10_000 }, id)
    .catch(async () => assert.fail(`after Acknowledge the alert's row shows: ${await page.$eval(`#alerts tr[data-alert="${id}"]`, (e) => e.textContent)}`));
  const alerts = await (await fetch(`${base}/api/alerts`)).json();
  const alert = alerts.find((a) => a.id === id);
  assert.ok(alert, `alert ${id} is not in /api/alerts: ${JSON.stringify(alerts)}`);
  assert.equal(alert.acknowledgedBy, 'anonymous');
  log(`alert ${id} acknowledged, and /api/alerts says so`);

  // /api/status over at least 5 s of the page being open: never twice within a second.
  const waitMore = loadedAt + 5500 - Date.now();
  if (waitMore > 0) await new Promise((r) => setTimeout(r, waitMore));
  const seen = statusRequests.filter((t) => t >= loadedAt);
  const gaps = seen.slice(1).map((t, i) => t - seen[i]);
  const windowS = (Date.now() - loadedAt) / 1000;
  assert.ok(seen.length >= 2, `only ${seen.length} /api/status requests in ${windowS} s`);
  assert.ok(Math.min(...gaps) >= 1000, `/api/status requested ${gaps.length + 1} times in ${windowS} s with gaps ${gaps} ms`);
  log(`/api/status: ${seen.length} requests in ${windowS.toFixed(1)} s, gaps ${gaps.join(', ')} ms`);

  if (process.env.INGEST_SCREENSHOT) {
    await writeFile(process.env.INGEST_SCREENSHOT, await page.screenshot({ fullPage: true, type: 'png' }));
    log(`screenshot at ${process.env.INGEST_SCREENSHOT}`);
  } else await page.screenshot({ type: 'png' });
  assert.deepEqual([...new Set(problems)], [], 'the page logged errors');
  summary = { statusRequests: seen.length, windowSeconds: windowS, minStatusGapMs: Math.min(...gaps), stages, alert: id, seconds: (Date.now() - started) / 1000 };
} catch (e) {
  // What the page showed and said, for the failure message.
  const shown = await page?.$eval('body', (b) => b.innerText).catch(() => '(no page)');
  console.error(`page problems: ${JSON.stringify([...new Set(problems)])}\npage text:\n${shown}`);
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
