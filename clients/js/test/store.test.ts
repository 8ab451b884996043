import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertStore, SeriesStore, seriesKeyOf } from '../src/store.js';
import type { ActiveAlert, AlertEvent } from '../src/messages.js';

const cpu = (host: string, fields: Record<string, number>, time: number) => ({ measurement: 'cpu', tags: { host }, fields, time });

test('series key sorts the tags', () => {
  assert.equal(seriesKeyOf('cpu', { z: '1', a: '2' }), 'cpu,a=2,z=1');
  assert.equal(seriesKeyOf('cpu', {}), 'cpu');
});

test('a snapshot in parts replaces the store only when the last part is in', () => {
  const s = new SeriesStore();
  s.applySnapshot([cpu('old', { u: 1 }, 1)]);
  let changes = 0;
  s.subscribe(() => changes++);
  s.applySnapshot([cpu('a', { u: 1 }, 10)], true);
  s.applySnapshot([cpu('b', { u: 2 }, 10)], true);
  assert.equal(changes, 0);
  assert.ok(s.find('cpu', { host: 'old' }), 'the old picture stays while parts come');
  s.applySnapshot([cpu('c', { u: 3 }, 10)]);
  assert.equal(changes, 1);
  assert.deepEqual(s.list().map((x) => x.tags.host), ['a', 'b', 'c']);
  assert.equal(s.find('cpu', { host: 'old' }), undefined);
  assert.ok(s.ready);
});

test('updates merge field by field and the later event time wins', () => {
  const s = new SeriesStore();
  s.applySnapshot([cpu('a', { u: 1, v: 1 }, 100)]);
  s.applyPoints([cpu('a', { u: 2 }, 200)]);
  s.applyPoints([cpu('a', { u: 9, v: 9 }, 150)]);
  const a = s.find('cpu', { host: 'a' })!;
  assert.deepEqual(a.fields.u, { value: 2, time: 200 });
  assert.deepEqual(a.fields.v, { value: 9, time: 150 });
  assert.equal(a.time, 200);
  s.applyPoints([cpu('b', { u: 5 }, 1)]);
  assert.equal(s.size, 2);
});

test('list() is the same array until something changes', () => {
  const s = new SeriesStore();
  s.applySnapshot([cpu('a', { u: 1 }, 100)]);
  const first = s.list();
  assert.equal(s.list(), first);
  s.applyPoints([cpu('a', { u: 1 }, 100)]);
  assert.equal(s.list(), first, 'a repeated point is no change');
  s.applyPoints([cpu('a', { u: 2 }, 101)]);
  assert.notEqual(s.list(), first);
});

test('series of two databases are two series', () => {
  const s = new SeriesStore();
  s.applySnapshot([
    { ...cpu('a', { u: 1 }, 1), database: 'prod' },
    { ...cpu('a', { u: 2 }, 1), database: 'lab' },
  ]);
  assert.equal(s.size, 2);
  assert.equal(s.find('cpu', { host: 'a' }, 'lab')!.fields.u!.value, 2);
});

const alert = (id: string, level: 'warn' | 'crit', since: number, ack: string | null = null): ActiveAlert => ({
  id, rule: 'r', database: 'db', seriesKey: 'cpu,host=a', measurement: 'cpu', tags: { host: 'a' }, field: 'u',
  level, since, value: 85, acknowledgedBy: ack, acknowledgedAt: ack ? '2026-01-01T00:00:00Z' : null,
});
const event = (id: string, level: AlertEvent['level'], previous: AlertEvent['level'], time: number, value = 95): AlertEvent => ({
  id, rule: 'r', database: 'db', seriesKey: 'cpu,host=a', measurement: 'cpu', tags: { host: 'a' }, field: 'u',
  level, previous, value, time, message: 'm',
});

test('alert snapshot in parts, then transitions: upsert with since and acknowledgement cleared, ok removes', () => {
  const s = new AlertStore();
  s.applySnapshot([alert('1', 'warn', 100, 'ann')], true);
  assert.equal(s.size, 0);
  s.applySnapshot([alert('2', 'crit', 50)]);
  assert.equal(s.size, 2);
  assert.equal(s.get('1')!.acknowledgedBy, 'ann');

  s.applyEvents([event('1', 'crit', 'warn', 300)]);
  const one = s.get('1')!;
  assert.equal(one.level, 'crit');
  assert.equal(one.since, 300);
  assert.equal(one.acknowledgedBy, null);
  assert.equal(one.acknowledgedAt, null);

  s.applyEvents([event('3', 'warn', 'ok', 400, 81)]);
  assert.equal(s.get('3')!.since, 400);
  assert.equal(s.get('3')!.value, 81);

  s.applyEvents([event('2', 'ok', 'crit', 500)]);
  assert.equal(s.get('2'), undefined);
  assert.deepEqual(s.list().map((a) => a.id), ['1', '3']);

  s.applyEvents([event('1', 'warn', 'crit', 200)]);
  assert.equal(s.get('1')!.level, 'crit', 'an event older than the state is ignored');
});

test('acknowledge marks an active alert until its next transition', () => {
  const s = new AlertStore();
  s.applySnapshot([alert('1', 'warn', 100)]);
  s.acknowledge('1', 'bob', '2026-01-01T00:00:00Z');
  assert.equal(s.get('1')!.acknowledgedBy, 'bob');
  s.applyEvents([event('1', 'crit', 'warn', 200)]);
  assert.equal(s.get('1')!.acknowledgedBy, null);
});
