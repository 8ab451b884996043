// The hook's mechanics with a hand-driven WebSocket: subscribe on mount, render on store changes, follow the filter,
// release on unmount.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createElement } from 'react';
import TestRenderer from 'react-test-renderer';
import { IngestClient } from '../src/index.js';
import { useIngestFeed, type IngestFeedState, type UseIngestFeedOptions } from '../src/react.js';
import { FakeSocket } from './fake-socket.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
const { act } = TestRenderer;

beforeEach(() => {
  FakeSocket.instances = [];
});

function probe() {
  const renders: IngestFeedState[] = [];
  function Probe(props: UseIngestFeedOptions) {
    renders.push(useIngestFeed(props));
    return null;
  }
  return { Probe, renders, get last() { return renders[renders.length - 1]!; } };
}

test('subscribes on mount, renders the snapshot and each update, follows the filter, unsubscribes on unmount', () => {
  const client = new IngestClient({ url: 'http://d:1', WebSocket: FakeSocket });
  const p = probe();
  let r!: TestRenderer.ReactTestRenderer;
  act(() => {
    r = TestRenderer.create(createElement(p.Probe, { client, channel: 'points', measurement: 'cpu', tags: { host: 'a*' } }));
  });
  const ws = FakeSocket.last;
  assert.equal(p.last.status, 'connecting', 'the hook connects a client given to it');
  act(() => ws.accept());
  assert.equal(p.last.status, 'open');
  assert.deepEqual(ws.subscribes, [{ op: 'subscribe', channel: 'points', measurement: 'cpu', tags: { host: 'a*' } }]);
  act(() => {
    ws.push({ type: 'subscribed', sub: 1, channel: 'points' });
    ws.push({ type: 'snapshot', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'a1' }, fields: { u: 1 }, time: 1 }] });
  });
  assert.deepEqual(p.last.series.map((s) => s.fields.u!.value), [1]);
  act(() => ws.push({ type: 'points', sub: 1, points: [{ measurement: 'cpu', tags: { host: 'a1' }, fields: { u: 2 }, time: 2 }] }));
  assert.deepEqual(p.last.series.map((s) => s.fields.u!.value), [2]);
  assert.deepEqual(p.last.alerts, []);
  const before = p.renders.length;

  // Same filter, new objects: no new subscription.
  act(() => r.update(createElement(p.Probe, { client, channel: 'points', measurement: 'cpu', tags: { host: 'a*' } })));
  assert.equal(ws.subscribes.length, 1);
  assert.ok(p.renders.length > before);

  act(() => r.update(createElement(p.Probe, { client, channel: 'points', measurement: 'mem' })));
  assert.deepEqual(ws.sent.slice(-2), [{ op: 'unsubscribe', sub: 1 }, { op: 'subscribe', channel: 'points', measurement: 'mem' }]);
  assert.equal(p.last.series.length, 0, 'the new subscription starts empty');
  act(() => {
    ws.push({ type: 'unsubscribed', sub: 1 });
    ws.push({ type: 'subscribed', sub: 2, channel: 'points' });
    ws.push({ type: 'snapshot', sub: 2, points: [{ measurement: 'mem', tags: {}, fields: { u: 5 }, time: 1 }] });
  });
  assert.deepEqual(p.last.series.map((s) => s.measurement), ['mem']);

  act(() => ws.drop());
  assert.equal(p.last.status, 'reconnecting');
  act(() => r.unmount());
  assert.equal(client.state, 'reconnecting', 'a client given to the hook is not closed by it');
  client.close();
});

test('alerts channel and a refused subscription: alerts and error', () => {
  const client = new IngestClient({ url: 'http://d:1', WebSocket: FakeSocket });
  client.connect();
  const ws = FakeSocket.last;
  ws.accept();
  const p = probe();
  let r!: TestRenderer.ReactTestRenderer;
  act(() => {
    r = TestRenderer.create(createElement(p.Probe, { client, channel: 'alerts' }));
  });
  act(() => {
    ws.push({ type: 'subscribed', sub: 1, channel: 'alerts' });
    ws.push({ type: 'snapshot', sub: 1, alerts: [{ id: 'a', rule: 'r', database: 'd', seriesKey: 'cpu', measurement: 'cpu', tags: {}, field: 'u', level: 'warn', since: 1, value: 1, acknowledgedBy: null, acknowledgedAt: null }] });
  });
  assert.deepEqual(p.last.alerts.map((a) => a.id), ['a']);
  assert.equal(p.last.error, null);
  act(() => r.update(createElement(p.Probe, { client, channel: 'points', measurement: 'x'.repeat(1100) })));
  act(() => ws.push({ type: 'unsubscribed', sub: 1 }));
  act(() => ws.push({ type: 'error', message: 'measurement is over 1024 characters' }));
  assert.equal(p.last.error, 'measurement is over 1024 characters');
  act(() => r.unmount());
  client.close();
});

test('with url instead of client the hook owns a client and closes it on unmount', () => {
  const p = probe();
  let r!: TestRenderer.ReactTestRenderer;
  act(() => {
    r = TestRenderer.create(createElement(p.Probe, { url: 'http://d:1', token: 'tok', WebSocket: FakeSocket, channel: 'points' }));
  });
  const ws = FakeSocket.last;
  assert.equal(ws.url, 'ws://d:1/ws?token=tok');
  act(() => ws.accept());
  assert.deepEqual(ws.subscribes, [{ op: 'subscribe', channel: 'points' }]);
  assert.equal(p.last.status, 'open');
  act(() => r.unmount());
  assert.equal(ws.readyState, 3, 'the socket was closed');
});
