// The status page: the running graph (polled from /api/status every 2 s while the page is visible), the active
// alerts (the feed's alerts channel) with their acknowledgement, and a live chart of one field of one series (the
// feed's points channel). Every call carries the token the user entered, kept for the tab in sessionStorage.

import { IngestClient, IngestError, type ActiveAlert, type AlertStore, type ConnectionState, type FeedPoint, type SeriesStore, type Subscription, type Tags } from '../../js/src/index.ts';

const STATUS_INTERVAL_MS = 2000;
const CHART_POINTS = 300;
const TOKEN_KEY = 'ingest.token';

type Json = Record<string, unknown>;
interface SeriesInfo { database: string; seriesKey: string; measurement: string; tags: Tags; fields: string[] }

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** A small element builder: h('td', { class: 'x' }, 'text', child). */
function h(tag: string, attrs: Record<string, string | undefined> | null, ...children: (Node | string | null | undefined)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A count or a map of counts by reason, as a total. */
function total(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object') return Object.values(v as Record<string, unknown>).reduce<number>((s, x) => s + total(x), 0);
  return 0;
}

function count(v: number | null): string {
  if (v === null) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + ' G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + ' M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + ' k';
  return String(Math.round(v * 10) / 10);
}

function bytes(v: number | null): string {
  if (v === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

function seconds(v: number | null): string {
  if (v === null) return '–';
  if (v < 1) return '0 s';
  if (v < 120) return v.toFixed(0) + ' s';
  if (v < 7200) return (v / 60).toFixed(0) + ' min';
  return (v / 3600).toFixed(1) + ' h';
}

function value(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
  return String(v);
}

function timeOfNs(ns: number): string {
  return new Date(ns / 1e6).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function tagsText(tags: Tags): string {
  const keys = Object.keys(tags).sort();
  return keys.length ? keys.map((k) => `${k}=${tags[k]}`).join(',') : '(no tags)';
}

function message(e: unknown): string {
  return e instanceof IngestError && (e.status === 401 || e.status === 403)
    ? `${e.message} — enter a token with the ${e.status === 403 && e.request.startsWith('POST') ? 'admin' : 'read'} scope`
    : e instanceof Error ? e.message : String(e);
}

// ------------------------------------------------------------------------------------------------ state

/** The client with the one call the package does not have: GET /api/series (the live state's series and fields). */
class PageClient extends IngestClient {
  series(): Promise<SeriesInfo[]> {
    return this.request<SeriesInfo[]>('GET', 'api/series');
  }
}

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let client: PageClient;
let alertsSub: Subscription<AlertStore> | null = null;
let seriesSub: Subscription<SeriesStore> | null = null;
let stopSeriesMessages: (() => void) | null = null;
let statusTimer: ReturnType<typeof setTimeout> | null = null;
let statusBusy = false;
let seriesList: SeriesInfo[] = [];
let chart: { time: number; value: number }[] = [];

function showError(text: string | null): void {
  const el = $('error');
  el.hidden = !text;
  el.textContent = text ?? '';
}

function start(): void {
  client?.close();
  client = new PageClient({ url: location.origin, token: token || undefined });
  client.onState(showState);
  showState(client.state);
  alertsSub = client.subscribe({ channel: 'alerts' }, renderAlerts);
  alertsSub.onChange(() => {
    const e = $('alerts-error');
    if (alertsSub?.error) { e.hidden = false; e.textContent = alertsSub.error; }
  });
  client.connect();
  seriesSub = null;
  loadSeries();
  pollStatus();
}

function showState(state: ConnectionState): void {
  const el = $('feed-state');
  el.textContent = state;
  el.dataset.state = state;
}

// ------------------------------------------------------------------------------------------------ status

function schedule(): void {
  if (statusTimer) clearTimeout(statusTimer);
  statusTimer = document.hidden ? null : setTimeout(pollStatus, STATUS_INTERVAL_MS);
}

/** One request at a time, the next 2 s after the last answer: never faster than once every 2 s. */
async function pollStatus(): Promise<void> {
  if (statusTimer) clearTimeout(statusTimer);
  statusTimer = null;
  if (statusBusy) return;
  statusBusy = true;
  try {
    const status = (await client.status()) as Json;
    showError(null);
    renderStatus(status);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  } catch (e) {
    showError(message(e));
  } finally {
    statusBusy = false;
    schedule();
  }
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) { if (statusTimer) clearTimeout(statusTimer); statusTimer = null; }
  else if (!statusTimer && !statusBusy) pollStatus();
});

function row(name: string, text: string, bad = false): Node[] {
  return [h('dt', null, name), h('dd', bad ? { class: 'bad' } : null, text)];
}

function queueBar(q: Json | null): Node | null {
  const points = num(q?.points), capacity = num(q?.capacity);
  if (points === null || !capacity) return null;
  const pct = Math.min(100, (100 * points) / capacity);
  // Set through the style object: the page's Content-Security-Policy refuses style attributes.
  const fill = h('span', null);
  fill.style.width = `${pct.toFixed(1)}%`;
  return h('div', { class: 'bar', title: `${pct.toFixed(1)} % full` }, fill);
}

function renderStatus(s: Json): void {
  const health = $('health');
  health.textContent = String(s.status ?? '?') + (s.paused ? ' (paused)' : '');
  health.dataset.state = String(s.status ?? '');

  const nodes: HTMLElement[] = [];
  for (const src of (s.sources as Json[] | undefined) ?? []) {
    const state = String(src.state ?? '?');
    nodes.push(h('div', { class: 'node source', 'data-source': String(src.name) },
      h('h3', null, String(src.name), h('span', { class: 'kind' }, String(src.type ?? 'source'))),
      h('dl', null,
        h('dt', null, 'state'), h('dd', null, h('span', { class: 'badge', 'data-state': state }, state)),
        ...row('messages', count(num(src.messages))),
        ...row('points', count(num(src.points))),
        ...row('dropped', count(total(src.dropped)), total(src.dropped) > 0),
        ...(src.lastError ? row('last error', String(src.lastError), true) : [])),
    ));
  }
  // /api/status lists the stages as they were registered; shown in the order points take: sources, the buffer,
  // the transforms, then the sinks (a stable sort keeps the daemon's order within each kind).
  const rank: Record<string, number> = { source: 0, buffer: 1, transform: 2, sink: 3 };
  const stages = [...((s.stages as Json[] | undefined) ?? [])].sort((a, b) => (rank[String(a.kind)] ?? 2) - (rank[String(b.kind)] ?? 2));
  for (const st of stages) {
    const q = (st.queue as Json | null) ?? null;
    const dropped = total(st.dropped);
    nodes.push(h('div', { class: 'node stage', 'data-stage': String(st.name) },
      h('h3', null, String(st.name), h('span', { class: 'kind' }, String(st.kind ?? ''))),
      h('dl', null,
        ...row('rate', `${count(num(st.receivedPerSecond))} /s`),
        ...row('received', count(num(st.received))),
        ...row('sent', count(num(st.sent))),
        ...row('dropped', count(dropped), dropped > 0),
        ...(total(st.errors) > 0 ? row('errors', count(total(st.errors)), true) : []),
        ...(q ? row('queue', `${count(num(q.points))} / ${count(num(q.capacity))}`) : [])),
      queueBar(q),
    ));
  }
  const graph = $('graph');
  graph.replaceChildren(...nodes.flatMap((n, i) => (i ? [h('span', { class: 'arrow' }, '→'), n] : [n])));

  const boxes: HTMLElement[] = [];
  for (const st of stages.filter((x) => x.kind === 'buffer')) {
    const q = (st.queue as Json | null) ?? null;
    const points = num(q?.points), capacity = num(q?.capacity);
    boxes.push(h('div', { class: 'node', 'data-buffer': String(st.name) }, h('h3', null, String(st.name)),
      h('dl', null,
        ...row('points', count(points)),
        ...row('capacity', count(capacity)),
        ...row('full', points !== null && capacity ? `${((100 * points) / capacity).toFixed(1)} %` : '–')),
      queueBar(q)));
  }
  for (const sink of (s.sinks as Json[] | undefined) ?? [])
    boxes.push(h('div', { class: 'node', 'data-sink': String(sink.name) }, h('h3', null, 'sink ' + String(sink.name)),
      h('dl', null, ...row('pending points', count(num(sink.pendingPoints))))));
  const wal = s.wal as Json | null | undefined;
  if (wal) {
    const pending = (wal.pending as Record<string, unknown>) ?? {};
    const oldest = (wal.oldestUndeliveredSeconds as Record<string, unknown>) ?? {};
    boxes.push(h('div', { class: 'node', id: 'wal' }, h('h3', null, 'write-ahead log'),
      h('dl', null,
        ...row('size', bytes(num(wal.sizeBytes))),
        ...row('segments', count(num(wal.segments))),
        ...Object.entries(pending).flatMap(([k, v]) => row(`pending ${k}`, count(num(v)))),
        ...Object.entries(oldest).flatMap(([k, v]) => row(`oldest ${k}`, seconds(num(v)), (num(v) ?? 0) > 60)),
        ...(total(wal.dropped) > 0 ? row('dropped', count(total(wal.dropped)), true) : []))));
  } else boxes.push(h('div', { class: 'node', id: 'wal' }, h('h3', null, 'write-ahead log'), h('span', { class: 'muted' }, 'off')));
  const dl = s.deadLetter as Json | null | undefined;
  if (dl) boxes.push(h('div', { class: 'node' }, h('h3', null, 'dead letter'),
    h('dl', null, ...row('files', count(num(dl.files))), ...row('size', bytes(num(dl.bytes))), ...row('points since start', count(num(dl.pointsSinceStart)), (num(dl.pointsSinceStart) ?? 0) > 0))));
  const feed = s.feed as Json | undefined;
  if (feed) boxes.push(h('div', { class: 'node' }, h('h3', null, 'live feed'),
    h('dl', null, ...row('clients', count(num(feed.clients))), ...row('subscriptions', count(num(feed.subscriptions))),
      ...row('queued', bytes(num(feed.queuedBytes))), ...row('points waiting', count(num(feed.queuedPoints))))));
  $('storage').replaceChildren(...boxes);
}

// ------------------------------------------------------------------------------------------------ alerts

function renderAlerts(store: AlertStore): void {
  const list = store.list();
  const target = $('alerts');
  if (!list.length) {
    target.replaceChildren(h('p', { class: 'muted' }, store.ready ? 'none' : 'waiting for the feed…'));
    return;
  }
  target.replaceChildren(h('table', null,
    h('thead', null, h('tr', null, ...['level', 'rule', 'series', 'field', 'value', 'since', 'acknowledged'].map((t) => h('th', null, t)))),
    h('tbody', null, ...list.map(alertRow))));
}

function alertRow(a: ActiveAlert): HTMLElement {
  let ack: Node;
  if (a.acknowledgedBy !== null) ack = h('span', { class: 'acked' }, `by ${a.acknowledgedBy}`);
  else {
    const button = h('button', { type: 'button', class: 'ack' }, 'Acknowledge') as HTMLButtonElement;
    button.addEventListener('click', async () => {
      button.disabled = true;
      const err = $('alerts-error');
      try {
        await client.acknowledge(a.id);
        err.hidden = true;
      } catch (e) {
        err.hidden = false;
        err.textContent = message(e);
        button.disabled = false;
      }
    });
    ack = button;
  }
  return h('tr', { 'data-alert': a.id },
    h('td', { class: `level-${a.level}` }, a.level), h('td', null, a.rule),
    h('td', null, `${a.database} ${a.seriesKey}`), h('td', null, a.field),
    h('td', null, a.value === undefined ? '–' : value(a.value)), h('td', null, timeOfNs(a.since)), h('td', null, ack));
}

// ------------------------------------------------------------------------------------------------ series

async function loadSeries(): Promise<void> {
  try {
    seriesList = await client.series();
  } catch (e) {
    // The live state is off (404) or the token may not read: the snapshot's series are all there is.
    seriesList = [];
    if (!(e instanceof IngestError && e.status === 404)) showError(message(e));
  }
  fillMeasurements();
}

function options(select: HTMLSelectElement, values: [string, string][], keep: string): void {
  select.replaceChildren(h('option', { value: '' }, '—'), ...values.map(([v, t]) => h('option', { value: v }, t)));
  select.value = values.some(([v]) => v === keep) ? keep : '';
}

function fillMeasurements(): void {
  const m = $<HTMLSelectElement>('measurement');
  const names = [...new Set(seriesList.map((s) => s.measurement))].sort();
  options(m, names.map((n) => [n, n]), m.value);
  fillSeries();
}

function fillSeries(): void {
  const m = $<HTMLSelectElement>('measurement').value;
  const select = $<HTMLSelectElement>('series');
  const matching = seriesList.filter((s) => s.measurement === m);
  options(select, matching.map((s) => [String(seriesList.indexOf(s)), `${s.database} ${tagsText(s.tags)}`] as [string, string]), matching.length === 1 ? String(seriesList.indexOf(matching[0]!)) : select.value);
  fillFields();
}

function picked(): SeriesInfo | undefined {
  const v = $<HTMLSelectElement>('series').value;
  return v === '' ? undefined : seriesList[Number(v)];
}

function fillFields(): void {
  const s = picked();
  const select = $<HTMLSelectElement>('field');
  const fields = s?.fields ?? [];
  options(select, fields.map((f) => [f, f]), fields.length === 1 ? fields[0]! : select.value);
  follow();
}

let following = '';

/** Subscribes to the picked series' field (and drops the previous subscription). */
function follow(): void {
  const s = picked();
  const field = $<HTMLSelectElement>('field').value;
  const key = s && field ? `${s.database}\u0000${s.seriesKey}\u0000${field}` : '';
  if (key === following && seriesSub) return;
  following = key;
  seriesSub?.unsubscribe();
  stopSeriesMessages?.();
  seriesSub = null;
  stopSeriesMessages = null;
  chart = [];
  latest = null;
  drawChart();
  if (!s || !field) return;
  const sub = client.subscribe({ channel: 'points', measurement: s.measurement, tags: s.tags, fields: [field] });
  seriesSub = sub;
  const matches = (p: FeedPoint) => p.measurement === s.measurement && tagsText(p.tags) === tagsText(s.tags) && p.fields[field] !== undefined;
  // Every point of the series goes on the chart; the store keeps only the latest of each batch.
  stopSeriesMessages = client.onMessage((m) => {
    const before = chart.length;
    if (m.type === 'points' && m.sub === sub.sub) for (const p of m.points) if (matches(p)) add(p.time, p.fields[field]);
    if (m.type === 'conflated') for (const u of m.updates) if (u.sub === sub.sub && 'point' in u && matches(u.point)) add(u.point.time, u.point.fields[field]);
    if (chart.length !== before) drawChart();
  });
  sub.onChange((store) => {
    const state = store.find(s.measurement, s.tags);
    const f = state?.fields[field];
    if (f) add(f.time, f.value);
    latest = f ? { value: f.value, time: f.time } : null;
    drawChart();
  });
}

/** Keeps the last CHART_POINTS numeric values in time order (one per time). */
function add(time: number, v: unknown): void {
  if (typeof v !== 'number') return;
  let i = chart.length;
  while (i > 0 && chart[i - 1]!.time > time) i--;
  if (i > 0 && chart[i - 1]!.time === time) chart[i - 1]!.value = v;
  else if (i > 0 || chart.length < CHART_POINTS) chart.splice(i, 0, { time, value: v });
  if (chart.length > CHART_POINTS) chart.splice(0, chart.length - CHART_POINTS);
}

let latest: { value: unknown; time: number } | null = null;

function drawChart(): void {
  $('latest-value').textContent = latest ? value(latest.value) : '–';
  $('latest-time').textContent = latest ? timeOfNs(latest.time) : '';
  const svg = $('chart');
  if (chart.length === 0) { svg.replaceChildren(); return; }
  const W = 600, H = 160, pad = 8;
  const t0 = chart[0]!.time, t1 = chart[chart.length - 1]!.time;
  let lo = Math.min(...chart.map((p) => p.value)), hi = Math.max(...chart.map((p) => p.value));
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (t: number) => (t1 === t0 ? W / 2 : pad + ((t - t0) / (t1 - t0)) * (W - 2 * pad));
  const y = (v: number) => H - pad - ((v - lo) / (hi - lo)) * (H - 2 * pad);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', chart.map((p) => `${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '));
  svg.replaceChildren(line);
  svg.setAttribute('aria-label', `${chart.length} points from ${value(lo)} to ${value(hi)}`);
}

// ------------------------------------------------------------------------------------------------ wiring

$('measurement').addEventListener('change', fillSeries);
$('series').addEventListener('change', fillFields);
$('field').addEventListener('change', follow);
$('refresh-series').addEventListener('click', () => void loadSeries());
$<HTMLInputElement>('token').value = token;
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $<HTMLInputElement>('token').value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  following = '';
  start();
});

start();
