// What a subscription knows: the latest value of every field of every series it matches (SeriesStore), or the
// active alerts it matches (AlertStore). Both take the subscription's snapshot, which may come in parts, and
// replace their content only once the last part is in; then they apply the updates.

import type { ActiveAlert, AlertEvent, FeedPoint, FieldValue, Tags } from './messages.js';

export type Listener = () => void;

/** One field's latest value and its event time (ns). */
export interface FieldState {
  value: FieldValue;
  time: number;
}

/** One series: its identity and the latest value of each field seen. */
export interface SeriesState {
  /** `database` + NUL + series key when the database is known, else the series key alone. */
  key: string;
  database?: string;
  /** `measurement,k1=v1,k2=v2` with the tags sorted by key. */
  seriesKey: string;
  measurement: string;
  tags: Tags;
  fields: Record<string, FieldState>;
  /** The newest event time among the fields (ns). */
  time: number;
}

/** The series key of a measurement and tags, as the daemon writes it (tags sorted by key). */
export function seriesKeyOf(measurement: string, tags: Tags): string {
  const keys = Object.keys(tags).sort();
  return keys.length === 0 ? measurement : measurement + ',' + keys.map((k) => `${k}=${tags[k]}`).join(',');
}

/** The store key of a series: database (when known) and series key. */
export function storeKeyOf(seriesKey: string, database?: string): string {
  return database === undefined ? seriesKey : `${database}\u0000${seriesKey}`;
}

/** A point with an optional database and series key (the REST snapshot gives both; the feed neither). */
export interface StorePoint extends FeedPoint {
  database?: string;
  seriesKey?: string;
}

abstract class Observable {
  private readonly listeners = new Set<Listener>();
  private _version = 0;

  /** Grows by one at every change; a view can compare it to decide whether to rebuild. */
  get version(): number {
    return this._version;
  }

  /** Calls `listener` after every change; returns the function that stops it. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  protected changed(): void {
    this._version++;
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        // A listener's failure must not stop the others nor the feed.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

/**
 * What both stores share: their entries by key, a snapshot gathered part by part that replaces the content once
 * the last part is in, and a sorted list kept until the next change. `S` is what a snapshot part holds.
 */
abstract class SnapshotStore<T, S> extends Observable {
  protected readonly map = new Map<string, T>();
  private pending: S[] | null = null;
  private cache: { version: number; list: T[] } | null = null;
  private _ready = false;

  /** True once a whole snapshot has been taken. */
  get ready(): boolean {
    return this._ready;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  /** Every entry in the store's order; the same array until the next change. */
  list(): T[] {
    if (this.cache?.version !== this.version) this.cache = { version: this.version, list: [...this.map.values()].sort((a, b) => this.compare(a, b)) };
    return this.cache.list;
  }

  /**
   * One part of a snapshot. Parts are gathered until the one without `more`; then they replace the whole content
   * (an entry the new picture lacks is gone).
   */
  applySnapshot(parts: S[], more = false): void {
    this.pending = this.pending ? this.pending.concat(parts) : [...parts];
    if (more) return;
    const all = this.pending;
    this.pending = null;
    this.map.clear();
    for (const x of all) this.load(x);
    this._ready = true;
    this.changed();
  }

  /** Forgets the parts of a snapshot not yet complete (its connection ended); the content stays. */
  dropPartialSnapshot(): void {
    this.pending = null;
  }

  /** Forgets everything, including a snapshot being gathered. */
  clear(): void {
    this.pending = null;
    this._ready = false;
    this.map.clear();
    this.changed();
  }

  /** The order of `list()`. */
  protected abstract compare(a: T, b: T): number;

  /** Takes one entry of a complete snapshot into the (emptied) store. */
  protected abstract load(part: S): void;
}

/** The latest value per series and field. */
export class SeriesStore extends SnapshotStore<SeriesState, StorePoint> {

  /** The series with this measurement and tags (any database when the store knows none). */
  find(measurement: string, tags: Tags = {}, database?: string): SeriesState | undefined {
    const sk = seriesKeyOf(measurement, tags);
    const exact = this.map.get(storeKeyOf(sk, database));
    if (exact || database !== undefined) return exact;
    for (const s of this.map.values()) if (s.seriesKey === sk) return s;
    return undefined;
  }

  /** Series ordered by key. */
  protected compare(a: SeriesState, b: SeriesState): number {
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  }

  protected load(p: StorePoint): void {
    this.merge(p);
  }

  /** Updates (points, windows, conflated points): merged field by field, the later event time winning. */
  applyPoints(points: StorePoint[]): void {
    let any = false;
    for (const p of points) any = this.merge(p) || any;
    if (any) this.changed();
  }

  private merge(p: StorePoint): boolean {
    const seriesKey = p.seriesKey ?? seriesKeyOf(p.measurement, p.tags ?? {});
    const key = storeKeyOf(seriesKey, p.database);
    const old = this.map.get(key);
    const fields: Record<string, FieldState> = old ? { ...old.fields } : {};
    let changed = !old;
    for (const [name, value] of Object.entries(p.fields ?? {})) {
      const had = fields[name];
      // Equal times: the later message is the later word.
      if (had === undefined || had.time <= p.time) {
        if (had === undefined || had.time !== p.time || had.value !== value) changed = true;
        fields[name] = { value, time: p.time };
      }
    }
    if (!changed) return false;
    const times = Object.values(fields).map((f) => f.time);
    const state: SeriesState = {
      key,
      seriesKey,
      measurement: p.measurement,
      tags: { ...(p.tags ?? {}) },
      fields,
      time: times.length ? Math.max(...times) : p.time,
    };
    if (p.database !== undefined) state.database = p.database;
    this.map.set(key, state);
    return true;
  }
}

const levelRank = { crit: 0, warn: 1, nodata: 2 } as const;

/** The active alerts, by id. */
export class AlertStore extends SnapshotStore<ActiveAlert, ActiveAlert> {
  /** Crit first, then warn and nodata, then by id. */
  protected compare(a: ActiveAlert, b: ActiveAlert): number {
    return levelRank[a.level] - levelRank[b.level] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  protected load(a: ActiveAlert): void {
    this.map.set(a.id, { ...a, tags: { ...a.tags } });
  }

  /**
   * Transitions. Level `ok` removes the alert. Another level makes it active at that level since the event's time,
   * with no acknowledgement (an acknowledgement lasts until the next transition). An event older than the state
   * held, or repeating its level, changes only the value.
   */
  applyEvents(events: AlertEvent[]): void {
    let any = false;
    for (const e of events) any = this.applyEvent(e) || any;
    if (any) this.changed();
  }

  /** Records an acknowledgement made through the REST API (the feed sends no event for it). */
  acknowledge(id: string, by: string | null, at: string | null): void {
    const a = this.map.get(id);
    if (!a) return;
    this.map.set(id, { ...a, acknowledgedBy: by, acknowledgedAt: at });
    this.changed();
  }

  private applyEvent(e: AlertEvent): boolean {
    const old = this.map.get(e.id);
    if (old && e.time < old.since) return false;
    if (e.level === 'ok') return this.map.delete(e.id);
    if (old && old.level === e.level) {
      if (e.value === undefined || old.value === e.value) return false;
      this.map.set(e.id, { ...old, value: e.value });
      return true;
    }
    const a: ActiveAlert = {
      id: e.id,
      rule: e.rule,
      database: e.database,
      seriesKey: e.seriesKey,
      measurement: e.measurement,
      tags: { ...e.tags },
      field: e.field,
      level: e.level,
      since: e.time,
      acknowledgedBy: null,
      acknowledgedAt: null,
    };
    if (e.value !== undefined) a.value = e.value;
    this.map.set(e.id, a);
    return true;
  }
}
