import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { IngestClient, IngestError, type ConnectionState } from '../src/index.js';
import { FakeSocket, until } from './fake-socket.js';

beforeEach(() => {
  FakeSocket.instances = [];
});

const client = (extra: object = {}) =>
  new IngestClient({ url: 'http://daemon:8186', WebSocket: FakeSocket, backoff: { initialMs: 5, maxMs: 20 }, ...extra });

test('the feed URL comes from the http base and carries the token', () => {
  assert.equal(client().feedUrl, 'ws://daemon:8186/ws');
  assert.equal(new IngestClient({ url: 'https://h/base/', token: 't&x', WebSocket: FakeSocket }).feedUrl, 'wss://h/base/ws?token=t%26x');
});

test('subscriptions are sent on open, snapshot then updates reach the store', () => {
  const c = client();
  const states: ConnectionState[] = [];
  c.onState((s) => states.push(s));
  const sub = c.subscribe({ channel: 'points', measurement: 'cpu', tags: { host: 'a*' }, fields: ['u'] });
  c.connect();
  const ws = FakeSocket.last;
  assert.equal(ws.url, 'ws://daemon:8186/ws');
  ws.accept();
  assert.deepEqual(ws.subscribes, [{ op: 'subscribe', channel: 'points', measurement: 'cpu', tags: { host: 'a*' }, fields: ['u'] }]);
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'a' }, fields: { u: 1 }, time: 10 }] });
  ws.push({ type: 'points', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'a' }, fields: { u: 2 }, time: 20 }] });
  assert.equal(sub.sub, 1);
  assert.equal(sub.store.find('cpu', { host: 'a' })!.fields.u!.value, 2);
  ws.push({ type: 'conflated', updates: [{ sub: 1, point: { measurement: 'cpu', tags: { host: 'b' }, fields: { u: 7 }, time: 30 } }] });
  assert.equal(sub.store.find('cpu', { host: 'b' })!.fields.u!.value, 7);
  assert.deepEqual(states, ['connecting', 'open']);
  c.close();
  assert.equal(c.state, 'closed');
});

test('after a lost connection the client reconnects, sends every live subscription again and maps the new numbers', async () => {
  const c = client();
  const states: ConnectionState[] = [];
  c.onState((s) => states.push(s));
  c.connect();
  let ws = FakeSocket.last;
  ws.accept();
  const gone = c.subscribe({ channel: 'points', measurement: 'mem' });
  const points = c.subscribe({ channel: 'points', measurement: 'cpu' });
  const alerts = c.subscribe({ channel: 'alerts' });
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 1, points: [] });
  ws.push({ type: 'subscribed', sub: 2, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 2, points: [{ measurement: 'cpu', tags: { host: 'stale' }, fields: { u: 1 }, time: 1 }] });
  ws.push({ type: 'subscribed', sub: 3, channel: 'alerts' });
  ws.push({ type: 'snapshot', sub: 3, alerts: [] });
  gone.unsubscribe();
  assert.deepEqual(ws.sent.at(-1), { op: 'unsubscribe', sub: 1 });
  ws.push({ type: 'unsubscribed', sub: 1 });

  ws.drop();
  assert.equal(c.state, 'reconnecting');
  assert.ok(points.store.find('cpu', { host: 'stale' }), 'the store keeps its content while away');
  await until(() => FakeSocket.instances.length === 2, 2000, 'a second socket');
  ws = FakeSocket.last;
  ws.accept();
  assert.deepEqual(ws.subscribes.map((s) => s.measurement ?? s.channel), ['cpu', 'alerts']);
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'x' }, fields: { u: 1 }, time: 5 }], more: true });
  assert.ok(points.store.find('cpu', { host: 'stale' }), 'not replaced before the last part');
  ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'y' }, fields: { u: 1 }, time: 5 }] });
  ws.push({ type: 'subscribed', sub: 2, channel: 'alerts' });
  ws.push({ type: 'snapshot', sub: 2, alerts: [] });
  assert.equal(points.sub, 1);
  assert.equal(alerts.sub, 2);
  assert.equal(points.store.find('cpu', { host: 'stale' }), undefined, 'the fresh snapshot replaced the store');
  assert.deepEqual(points.store.list().map((s) => s.tags.host), ['x', 'y']);
  ws.push({ type: 'alerts', sub: 2, events: [{ id: 'a1', rule: 'r', database: 'd', seriesKey: 'cpu', measurement: 'cpu', tags: {}, field: 'u', level: 'warn', previous: 'ok', value: 1, time: 9, message: '' }] });
  assert.equal(alerts.store.get('a1')!.level, 'warn');
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open']);
  c.close();
});

test('a failed connection is retried with growing delays until it opens', async () => {
  const c = client();
  c.connect();
  FakeSocket.last.drop();
  await until(() => FakeSocket.instances.length === 2);
  FakeSocket.last.drop();
  await until(() => FakeSocket.instances.length === 3);
  assert.equal(c.state, 'reconnecting');
  FakeSocket.last.accept();
  assert.equal(c.state, 'open');
  c.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(FakeSocket.instances.length, 3, 'no reconnect after close()');
});

test('a refused subscription carries the daemon message; one dropped before its answer is unsubscribed', () => {
  const c = client();
  const errors: string[] = [];
  c.onError((e) => errors.push(e));
  c.connect();
  const ws = FakeSocket.last;
  ws.accept();
  const bad = c.subscribe({ channel: 'points', measurement: 'x'.repeat(2000) });
  const early = c.subscribe({ channel: 'points', measurement: 'cpu' });
  early.unsubscribe();
  ws.push({ type: 'error', message: 'measurement is over 1024 characters' });
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  assert.equal(bad.error, 'measurement is over 1024 characters');
  assert.deepEqual(errors, ['measurement is over 1024 characters']);
  assert.deepEqual(ws.sent.at(-1), { op: 'unsubscribe', sub: 1 });
  c.close();
});

test('REST: bearer token, JSON answers, IngestError with the status and the daemon message', async () => {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    if (url.includes('/ack')) return new Response('{"error":"no active alert with id zz"}', { status: 404 });
    if (url.includes('/api/history')) return new Response('{"code":"invalid","message":"from=x: not a time"}', { status: 400 });
    return new Response('[]', { status: 200 });
  };
  const c = new IngestClient({ url: 'http://d:1/', token: 'tok', fetch, WebSocket: FakeSocket });
  assert.deepEqual(await c.snapshot({ measurement: 'cpu', tags: { host: 'a*' }, fields: ['u', 'v'] }), []);
  assert.equal(calls[0]!.url, 'http://d:1/api/snapshot?measurement=cpu&tag=host%3Aa*&field=u&field=v');
  assert.equal((calls[0]!.init!.headers as Record<string, string>).Authorization, 'Bearer tok');
  await assert.rejects(c.acknowledge('zz', 'me'), (e: unknown) => {
    assert.ok(e instanceof IngestError);
    assert.equal(e.status, 404);
    assert.match(e.message, /no active alert with id zz/);
    return true;
  });
  assert.equal(calls[1]!.url, 'http://d:1/api/alerts/zz/ack?by=me');
  assert.equal(calls[1]!.init!.method, 'POST');
  await assert.rejects(c.history({ measurement: 'cpu', field: 'u', from: 'x' }), (e: unknown) =>
    e instanceof IngestError && e.status === 400 && /from=x: not a time/.test(e.message));
  const down = new IngestClient({ url: 'http://d:1', fetch: async () => { throw new TypeError('fetch failed'); } });
  await assert.rejects(down.status(), (e: unknown) => e instanceof IngestError && e.status === 0);
});

test('parts of a snapshot cut short by a lost connection are not joined to the next snapshot', async () => {
  const c = client();
  const sub = c.subscribe({ channel: 'points' });
  c.connect();
  let ws = FakeSocket.last;
  ws.accept();
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'half' }, fields: { u: 1 }, time: 1 }], more: true });
  ws.drop();
  await until(() => FakeSocket.instances.length === 2);
  ws = FakeSocket.last;
  ws.accept();
  ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
  ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'whole' }, fields: { u: 1 }, time: 1 }] });
  assert.deepEqual(sub.store.list().map((s) => s.tags.host), ['whole']);
  c.close();
});

test('REST without a fetch option calls the global fetch on the global object, as a browser requires', async () => {
  const original = globalThis.fetch;
  const calls: unknown[] = [];
  // A browser's fetch throws "Illegal invocation" when called on another object; this one records what it was called on.
  globalThis.fetch = function (this: unknown, _input: RequestInfo | URL, _init?: RequestInit) {
    calls.push(this);
    return Promise.resolve(new Response('[]', { status: 200, headers: { 'Content-Type': 'application/json' } }));
  } as typeof fetch;
  try {
    const client = new IngestClient({ url: 'http://127.0.0.1:1', WebSocket: FakeSocket });
    assert.deepEqual(await client.alerts(), []);
    assert.equal(calls.length, 1);
    assert.ok(calls[0] === globalThis || calls[0] === undefined, 'fetch was called on the client, not on the global object');
  } finally {
    globalThis.fetch = original;
  }
});
