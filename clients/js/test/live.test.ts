// Against a real daemon: INGEST_URL (and INGEST_TOKEN when auth is on). tests/Ingest.IntegrationTests/JsClientTests.cs
// starts one with what these tests expect: threshold rule `jsclient_high` (measurement jsclient_cpu, field usage,
// warn above 80, crit above 90) and a tier `1m` over jsclient_cpu (mean, max).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createElement } from 'react';
import TestRenderer from 'react-test-renderer';
import { IngestClient, IngestError, type ConnectionState, type WebSocketConstructor } from '../src/index.js';
import { useIngestFeed, type IngestFeedState } from '../src/react.js';
import { until } from './fake-socket.js';

const url = process.env.INGEST_URL;
const token = process.env.INGEST_TOKEN || undefined;
const skip = url ? false : 'INGEST_URL is not set (JsClientTests runs these against a real daemon)';
const db = `jsclient_${process.pid}`;
const WS = WebSocket as unknown as WebSocketConstructor;
const clients: IngestClient[] = [];

function newClient(): IngestClient {
  const c = new IngestClient({ url: url!, ...(token ? { token } : {}), WebSocket: WS, backoff: { initialMs: 100, maxMs: 1000 } });
  clients.push(c);
  return c;
}

after(() => {
  for (const c of clients) c.close();
});

/** Writes line protocol with millisecond timestamps to /write?db=…; fails unless 204. */
async function write(lines: string): Promise<void> {
  const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(new URL(`write?db=${db}&precision=ms`, url!.endsWith('/') ? url : url + '/'), { method: 'POST', headers, body: lines });
  assert.equal(r.status, 204, `POST /write answered ${r.status}: ${await r.text()}`);
}

let clock = Date.now() - 10 * 60_000;
/** Increasing event times (ms), a little in the past so that every point is on time for the rule and the tier. */
const nextMs = () => (clock += 1000);

test('connect, subscribe to points, a written point reaches the store', { skip, timeout: 30_000 }, async () => {
  const c = newClient();
  const states: ConnectionState[] = [];
  c.onState((s) => states.push(s));
  const sub = c.subscribe({ channel: 'points', measurement: 'jsclient_mem', fields: ['used'] });
  c.connect();
  await sub.ready();
  assert.equal(c.state, 'open');
  assert.deepEqual(states, ['connecting', 'open']);
  const t = nextMs();
  await write(`jsclient_mem,host=h1 used=42.5,free=7 ${t}`);
  await until(() => sub.store.find('jsclient_mem', { host: 'h1' }) !== undefined, 10_000, 'the point in the store');
  const s = sub.store.find('jsclient_mem', { host: 'h1' })!;
  assert.equal(s.fields.used!.value, 42.5);
  assert.equal(s.fields.free, undefined, 'only the subscribed fields');
  assert.ok(Math.abs(s.fields.used!.time / 1e6 - t) < 1, `time ${s.fields.used!.time} is ${t} ms`);
});

test('an alert fires, shows in the store and in REST, is acknowledged via REST, and goes when back to ok', { skip, timeout: 30_000 }, async () => {
  const c = newClient();
  const sub = c.subscribe({ channel: 'alerts', measurement: 'jsclient_cpu', tags: { host: 'alert-*' } });
  c.connect();
  await sub.ready();
  await write(`jsclient_cpu,host=alert-1 usage=95 ${nextMs()}`);
  await until(() => sub.store.list().some((a) => a.tags.host === 'alert-1'), 10_000, 'the alert in the store');
  const alert = sub.store.list().find((a) => a.tags.host === 'alert-1')!;
  assert.equal(alert.rule, 'jsclient_high');
  assert.equal(alert.level, 'crit');
  assert.equal(alert.database, db);
  assert.equal(alert.acknowledgedBy, null);

  const listed = (await c.alerts()).find((a) => a.id === alert.id);
  assert.ok(listed, 'GET /api/alerts lists it');
  assert.equal(listed.level, 'crit');

  const ack = await c.acknowledge(alert.id, 'js-test');
  assert.equal(ack.id, alert.id);
  assert.equal(sub.store.get(alert.id)!.acknowledgedBy, ack.acknowledgedBy);
  assert.equal((await c.alerts()).find((a) => a.id === alert.id)!.acknowledgedBy, ack.acknowledgedBy);
  await assert.rejects(c.acknowledge('0000000000000000'), (e: unknown) => e instanceof IngestError && e.status === 404);

  await write(`jsclient_cpu,host=alert-1 usage=85 ${nextMs()}`);
  await until(() => sub.store.get(alert.id)?.level === 'warn', 10_000, 'the alert at warn');
  assert.equal(sub.store.get(alert.id)!.acknowledgedBy, null, 'a transition clears the acknowledgement');
  await write(`jsclient_cpu,host=alert-1 usage=10 ${nextMs()}`);
  await until(() => sub.store.get(alert.id) === undefined, 10_000, 'the alert gone at ok');
});

test('the connection drops: reconnecting, then open, subscriptions sent again with new numbers, the fresh snapshot replaces the store, updates flow again', { skip, timeout: 40_000 }, async () => {
  const c = newClient();
  const states: ConnectionState[] = [];
  c.onState((s) => states.push(s));
  const first = c.subscribe({ channel: 'points', measurement: 'jsclient_nothing' });
  const sub = c.subscribe({ channel: 'points', measurement: 'jsclient_net' });
  c.connect();
  await sub.ready();
  assert.equal(sub.sub, 2);
  first.unsubscribe();
  await write(`jsclient_net,host=r1 rx=1 ${nextMs()}`);
  await until(() => sub.store.find('jsclient_net', { host: 'r1' }) !== undefined, 10_000, 'the first point');
  // Let the live state reach Redis, so that the next snapshot has the series.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !(await c.snapshot({ measurement: 'jsclient_net' })).some((s) => s.tags.host === 'r1'))
    await new Promise((r) => setTimeout(r, 100));
  // Something only this store knows: the fresh snapshot must remove it.
  sub.store.applyPoints([{ measurement: 'jsclient_net', tags: { host: 'phantom' }, fields: { rx: 0 }, time: 1 }]);
  const readyAgain = new Promise<void>((resolve) => {
    const stop = sub.store.subscribe(() => {
      if (c.state === 'open' && !sub.store.find('jsclient_net', { host: 'phantom' })) {
        stop();
        resolve();
      }
    });
  });

  // Cut the TCP connection under the client, as a network failure would.
  (c.currentSocket as unknown as WebSocket).terminate();
  await until(() => c.state === 'reconnecting', 5_000, 'reconnecting');
  await until(() => c.state === 'open', 15_000, 'open again');
  await readyAgain;
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open']);
  assert.equal(sub.sub, 1, 'the daemon numbered the one live subscription 1 on the new connection');
  assert.ok(sub.store.find('jsclient_net', { host: 'r1' }), 'the snapshot brought the series back');

  await write(`jsclient_net,host=r2 rx=2 ${nextMs()}`);
  await until(() => sub.store.find('jsclient_net', { host: 'r2' }) !== undefined, 10_000, 'an update after the reconnect');
  assert.equal(sub.store.find('jsclient_net', { host: 'r2' })!.fields.rx!.value, 2);
});

test('aggregates of a tier arrive when the windows close', { skip, timeout: 30_000 }, async () => {
  const c = newClient();
  const sub = c.subscribe({ channel: 'aggregates', tier: '1m', measurement: 'jsclient_cpu', tags: { host: 'agg' } });
  c.connect();
  await sub.ready();
  const minute = Math.floor(clock / 60_000) * 60_000 + 60_000;
  clock = minute + 59_000;
  await write([`jsclient_cpu,host=agg usage=10 ${minute + 1000}`, `jsclient_cpu,host=agg usage=30 ${minute + 2000}`].join('\n'));
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  let flushed = '';
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && sub.store.size === 0) {
    const r = await fetch(new URL('api/pipeline/flush', url!.endsWith('/') ? url : url + '/'), { method: 'POST', headers });
    flushed = `${r.status} ${await r.text()}`;
    await new Promise((r) => setTimeout(r, 300));
  }
  const w = sub.store.list()[0];
  assert.ok(w, `no window arrived (last flush: ${flushed})`);
  assert.equal(w.measurement, 'jsclient_cpu_1m');
  assert.equal(w.fields.usage_mean!.value, 20);
  assert.equal(w.fields.usage_max!.value, 30);
});

test('REST: status, snapshot and history from the daemon; a bad parameter is an IngestError with its message', { skip, timeout: 30_000 }, async () => {
  const c = newClient();
  const status = await c.status();
  assert.equal(typeof status, 'object');
  const t = nextMs();
  await write(`jsclient_disk,host=d1 used=3 ${t}`);
  let snap: Awaited<ReturnType<typeof c.snapshot>> = [];
  for (let i = 0; i < 50 && !snap.some((s) => s.database === db); i++) {
    snap = await c.snapshot({ measurement: 'jsclient_disk', tags: { host: 'd*' } });
    if (!snap.some((s) => s.database === db)) await new Promise((r) => setTimeout(r, 200));
  }
  const series = snap.find((s) => s.database === db);
  assert.ok(series, 'GET /api/snapshot has the series');
  assert.equal(series.fields.used!.value, 3);

  let rows = 0;
  for (let i = 0; i < 50 && rows === 0; i++) {
    const h = await c.history({ measurement: 'jsclient_disk', field: 'used', tier: 'raw', from: new Date(t - 60_000), to: new Date(t + 60_000), db });
    rows = h.series.reduce((n, s) => n + s.values.length, 0);
    if (rows === 0) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(rows, 1, 'GET /api/history has the raw point');
  await assert.rejects(c.history({ measurement: 'jsclient_disk', field: 'used', from: 'yesterday-ish' }), (e: unknown) =>
    e instanceof IngestError && e.status === 400 && /from/.test(e.message));
});

test('useIngestFeed renders the daemon live values', { skip, timeout: 30_000 }, async () => {
  const c = newClient();
  let seen: IngestFeedState | undefined;
  function Probe() {
    seen = useIngestFeed({ client: c, channel: 'points', measurement: 'jsclient_react' });
    return createElement('span', null, seen.series.map((s) => `${s.tags.host}=${s.fields.v?.value}`).join(','));
  }
  const r = TestRenderer.create(createElement(Probe));
  await until(() => seen?.status === 'open', 10_000, 'open');
  await new Promise((resolve) => setTimeout(resolve, 200));
  await write(`jsclient_react,host=x v=7 ${nextMs()}`);
  await until(() => JSON.stringify(r.toJSON()).includes('x=7'), 10_000, 'the value rendered');
  TestRenderer.act(() => r.unmount());
});

// The daemon itself goes away and comes back (same port): JsClientTests restarts it when this file appears.
const restartFile = process.env.INGEST_TEST_RESTART_FILE;
test('the daemon restarts: the client reconnects by itself and its subscription works again', {
  skip: skip || (restartFile ? false : 'INGEST_TEST_RESTART_FILE is not set'),
  timeout: 90_000,
}, async () => {
  const { writeFileSync, existsSync } = await import('node:fs');
  const c = newClient();
  const states: ConnectionState[] = [];
  c.onState((s) => states.push(s));
  const sub = c.subscribe({ channel: 'points', measurement: 'jsclient_restart' });
  c.connect();
  await sub.ready();
  let snapshots = 0;
  c.onMessage((m) => {
    if (m.type === 'snapshot') snapshots++;
  });
  writeFileSync(restartFile!, 'restart');
  await until(() => c.state === 'reconnecting', 60_000, 'the connection lost');
  await until(() => c.state === 'open' && snapshots > 0, 60_000, 'open again with a new snapshot');
  assert.ok(!existsSync(restartFile!), 'the wrapper took the request');
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open']);
  await write(`jsclient_restart,host=after v=1 ${nextMs()}`);
  await until(() => sub.store.find('jsclient_restart', { host: 'after' }) !== undefined, 15_000, 'an update after the restart');
});
