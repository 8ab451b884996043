// The live feed's client: one WebSocket to /ws, subscriptions with their stores, reconnection with exponential
// backoff and jitter, and every live subscription sent again by itself once connected again.

import {
  isAlertsSnapshot,
  isConflatedAlert,
  parseServerMessage,
  type AlertEvent,
  type FeedFilter,
  type FeedPoint,
  type ServerMessage,
  type SubscribeRequest,
} from './messages.js';
import { RestApi, type Acknowledgement, type FetchFunction } from './rest.js';
import { AlertStore, SeriesStore } from './store.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The part of a WebSocket the client uses: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface BackoffOptions {
  /** First delay before reconnecting (default 500 ms). */
  initialMs?: number;
  /** Longest delay (default 30 s). */
  maxMs?: number;
}

export interface IngestClientOptions {
  /** The daemon's http(s) base URL, e.g. `http://127.0.0.1:8186`. */
  url: string;
  /** A token with the read scope (admin to acknowledge alerts). */
  token?: string;
  /** WebSocket constructor; default: the global one (browsers, Node 22+). In Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** fetch for the REST calls; default: the global one. */
  fetch?: FetchFunction;
  backoff?: BackoffOptions;
}

/** A subscription's filter with the channel narrowed, for the typed overloads of `subscribe`. */
export type SeriesFilter = FeedFilter & { channel: 'points' | 'aggregates' };
export type AlertsFilter = FeedFilter & { channel: 'alerts' };

export type StoreOf<F extends FeedFilter> = F['channel'] extends 'alerts' ? AlertStore : SeriesStore;

/** A live subscription. It lasts across reconnections until `unsubscribe()`. */
export interface Subscription<S extends SeriesStore | AlertStore = SeriesStore | AlertStore> {
  readonly filter: Readonly<FeedFilter>;
  /** What the subscription knows; replaced as a whole by each complete snapshot. */
  readonly store: S;
  /** The daemon's number for it on the current connection (undefined until `subscribed` arrives). */
  readonly sub: number | undefined;
  /** Why the daemon refused it (an `error` in answer to the subscribe), else null. */
  readonly error: string | null;
  /** Calls `listener` after every change of the store (and of `error`); returns the function that stops it. */
  onChange(listener: (store: S) => void): () => void;
  /** Resolves once the store holds a complete snapshot (at once when it already does). */
  ready(): Promise<void>;
  unsubscribe(): void;
}

const OPEN = 1;

class Handle<S extends SeriesStore | AlertStore> implements Subscription<S> {
  sub: number | undefined;
  error: string | null = null;
  closed = false;
  private readonly errorListeners = new Set<() => void>();

  constructor(
    readonly filter: Readonly<FeedFilter>,
    readonly store: S,
    private readonly owner: IngestClient,
  ) {}

  onChange(listener: (store: S) => void): () => void {
    const call = () => listener(this.store);
    const stopStore = this.store.subscribe(call);
    this.errorListeners.add(call);
    return () => {
      stopStore();
      this.errorListeners.delete(call);
    };
  }

  ready(): Promise<void> {
    if (this.store.ready) return Promise.resolve();
    return new Promise((resolve) => {
      const stop = this.store.subscribe(() => {
        if (this.store.ready) {
          stop();
          resolve();
        }
      });
    });
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner['drop'](this);
  }

  setError(message: string | null): void {
    this.error = message;
    for (const l of [...this.errorListeners]) l();
  }
}

type Pending = { kind: 'subscribe'; handle: Handle<SeriesStore | AlertStore> } | { kind: 'unsubscribe' };

/** The feed and the REST API of one daemon. */
export class IngestClient extends RestApi {
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private _state: ConnectionState = 'closed';
  private socket: WebSocketLike | null = null;
  private readonly handles = new Set<Handle<SeriesStore | AlertStore>>();
  private readonly bySub = new Map<number, Handle<SeriesStore | AlertStore>>();
  // The daemon answers each request, in order, with exactly one message: subscribed, unsubscribed or error.
  private pending: Pending[] = [];
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly messageListeners = new Set<(message: ServerMessage) => void>();
  private readonly errorListeners = new Set<(error: string) => void>();
  private _lastError: string | null = null;

  constructor(options: IngestClientOptions) {
    super(options);
    this.WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.initialMs = Math.max(1, options.backoff?.initialMs ?? 500);
    this.maxMs = Math.max(this.initialMs, options.backoff?.maxMs ?? 30_000);
  }

  /** The feed's URL: the base with ws(s) for http(s), path `ws`, and `?token=` when there is a token. */
  get feedUrl(): string {
    const u = new URL('ws', this.baseUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.token) u.searchParams.set('token', this.token);
    return u.toString();
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The last error the feed reported (an `error` message or a lost connection), else null. */
  get lastError(): string | null {
    return this._lastError;
  }

  /** Calls `listener` with each new state; returns the function that stops it. */
  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Every message from the daemon, as parsed, after the client has applied it. */
  onMessage(listener: (message: ServerMessage) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Errors: `error` messages from the daemon, failed connections. */
  onError(listener: (error: string) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Opens the feed (nothing happens when it is already open or on its way). */
  connect(): void {
    if (this._state !== 'closed') return;
    this.attempt = 0;
    this.open('connecting');
  }

  /** Closes the feed for good; subscriptions are kept and sent again by a later `connect()`. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    this.resetConnection();
    this.setState('closed');
    if (s) {
      detach(s);
      try {
        s.close(1000, 'closed by the client');
      } catch {
        // already closing
      }
    }
  }

  /** Subscribes; the subscription lives until `unsubscribe()`, across reconnections. */
  subscribe(filter: AlertsFilter, listener?: (store: AlertStore) => void): Subscription<AlertStore>;
  subscribe(filter: SeriesFilter, listener?: (store: SeriesStore) => void): Subscription<SeriesStore>;
  subscribe(filter: FeedFilter, listener?: (store: SeriesStore | AlertStore) => void): Subscription;
  subscribe(filter: FeedFilter, listener?: (store: never) => void): Subscription {
    const copy: FeedFilter = { ...filter };
    if (filter.tags) copy.tags = { ...filter.tags };
    if (filter.fields) copy.fields = [...filter.fields];
    const store = filter.channel === 'alerts' ? new AlertStore() : new SeriesStore();
    const handle = new Handle<SeriesStore | AlertStore>(Object.freeze(copy), store, this);
    if (listener) handle.onChange(listener as (store: SeriesStore | AlertStore) => void);
    this.handles.add(handle);
    if (this._state === 'open') this.sendSubscribe(handle);
    return handle;
  }

  /** Acknowledges an alert and records it in the alert stores at once (the feed sends no event for it). */
  override async acknowledge(id: string, by?: string): Promise<Acknowledgement> {
    const ack = await super.acknowledge(id, by);
    for (const h of this.handles) if (h.store instanceof AlertStore) h.store.acknowledge(id, ack.acknowledgedBy, ack.acknowledgedAt);
    return ack;
  }

  /** The WebSocket in use (null between connections), e.g. for a test to cut the connection. */
  get currentSocket(): WebSocketLike | null {
    return this.socket;
  }

  // ------------------------------------------------------------------------------------------------ connection

  private open(state: 'connecting' | 'reconnecting'): void {
    this.setState(state);
    if (!this.WebSocketImpl) {
      this.fail('no WebSocket implementation: pass the WebSocket option (e.g. the ws package in Node 20)');
      this.close();
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.feedUrl);
    } catch (e) {
      this.fail(`cannot open ${redact(this.feedUrl)}: ${e instanceof Error ? e.message : String(e)}`);
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.setState('open');
      for (const h of this.handles) this.sendSubscribe(h);
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      const text = typeof ev.data === 'string' ? ev.data : String(ev.data);
      const message = parseServerMessage(text);
      if (message) this.handle(message);
    };
    socket.onerror = () => {
      // onclose follows with what is known.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.resetConnection();
      if (ev?.code && ev.code !== 1000) this.fail(`the feed closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`);
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this._state === 'closed') return;
    this.setState('reconnecting');
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    // Half fixed, half random: clients cut off together do not all come back at the same moment.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this._state === 'reconnecting') this.open('reconnecting');
    }, delay);
  }

  /** The numbers of the connection that ended mean nothing on the next one. */
  private resetConnection(): void {
    this.pending = [];
    this.bySub.clear();
    for (const h of this.handles) {
      h.sub = undefined;
      // Parts of a snapshot cut short must not be joined to the next connection's snapshot.
      h.store.dropPartialSnapshot();
    }
  }

  private setState(state: ConnectionState): void {
    if (this._state === state) return;
    this._state = state;
    for (const l of [...this.stateListeners]) l(state);
  }

  private fail(message: string): void {
    this._lastError = message;
    for (const l of [...this.errorListeners]) l(message);
  }

  private send(data: object): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(data));
  }

  private sendSubscribe(handle: Handle<SeriesStore | AlertStore>): void {
    const request: SubscribeRequest = { op: 'subscribe', ...handle.filter };
    this.pending.push({ kind: 'subscribe', handle });
    this.send(request);
  }

  private sendUnsubscribe(sub: number): void {
    this.pending.push({ kind: 'unsubscribe' });
    this.send({ op: 'unsubscribe', sub });
  }

  /** Called by Subscription.unsubscribe. */
  private drop(handle: Handle<SeriesStore | AlertStore>): void {
    this.handles.delete(handle);
    if (handle.sub !== undefined) {
      this.bySub.delete(handle.sub);
      this.sendUnsubscribe(handle.sub);
      handle.sub = undefined;
    }
    // One still waiting for its `subscribed` is unsubscribed when that arrives.
  }

  // ------------------------------------------------------------------------------------------------ messages

  private handle(m: ServerMessage): void {
    switch (m.type) {
      case 'subscribed': {
        const p = this.pending.shift();
        if (p?.kind === 'subscribe') {
          if (p.handle.closed) this.sendUnsubscribe(m.sub);
          else {
            p.handle.sub = m.sub;
            this.bySub.set(m.sub, p.handle);
            if (p.handle.error !== null) p.handle.setError(null);
          }
        }
        break;
      }
      case 'unsubscribed':
        this.pending.shift();
        break;
      case 'error': {
        // An error answers the oldest request waiting, when there is one.
        const p = this.pending.shift();
        if (p?.kind === 'subscribe') p.handle.setError(m.message);
        this.fail(m.message);
        break;
      }
      case 'snapshot': {
        const h = this.bySub.get(m.sub);
        if (!h) break;
        if (isAlertsSnapshot(m)) {
          if (h.store instanceof AlertStore) h.store.applySnapshot(m.alerts, m.more === true);
        } else if (h.store instanceof SeriesStore) h.store.applySnapshot(m.points ?? [], m.more === true);
        break;
      }
      case 'points':
      case 'aggregates': {
        const h = this.bySub.get(m.sub);
        if (h?.store instanceof SeriesStore) h.store.applyPoints(m.points);
        break;
      }
      case 'alerts': {
        const h = this.bySub.get(m.sub);
        if (h?.store instanceof AlertStore) h.store.applyEvents(m.events);
        break;
      }
      case 'conflated': {
        const points = new Map<SeriesStore, FeedPoint[]>();
        const events = new Map<AlertStore, AlertEvent[]>();
        for (const u of m.updates) {
          const h = this.bySub.get(u.sub);
          if (!h) continue;
          if (isConflatedAlert(u)) {
            if (h.store instanceof AlertStore) push(events, h.store, u.alert);
          } else if (h.store instanceof SeriesStore) push(points, h.store, u.point);
        }
        for (const [store, list] of points) store.applyPoints(list);
        for (const [store, list] of events) store.applyEvents(list);
        break;
      }
    }
    for (const l of [...this.messageListeners]) l(m);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function detach(s: WebSocketLike): void {
  s.onopen = null;
  s.onmessage = null;
  s.onclose = null;
  // Some implementations (ws) throw an error event nobody listens to: keep one listener.
  s.onerror = () => {};
}

function redact(url: string): string {
  return url.replace(/([?&]token=)[^&]*/, '$1***');
}
