// useIngestFeed: one subscription of the live feed as React state.

import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { IngestClient, type ConnectionState, type Subscription, type WebSocketConstructor } from './client.js';
import type { ActiveAlert, FeedFilter } from './messages.js';
import { AlertStore, SeriesStore, type SeriesState } from './store.js';

export interface UseIngestFeedOptions extends FeedFilter {
  /** A client to share between components; it is connected if it is not, and never closed by the hook. */
  client?: IngestClient;
  /** Without `client`: the daemon's base URL; the hook then owns a client, closed on unmount. */
  url?: string;
  token?: string;
  /** Without `client`, outside browsers: the WebSocket constructor. */
  WebSocket?: WebSocketConstructor;
}

export interface IngestFeedState {
  /** For `points` and `aggregates`: every matching series with the latest value of each field. */
  series: SeriesState[];
  /** For `alerts`: the matching active alerts. */
  alerts: ActiveAlert[];
  /** The feed connection's state. */
  status: ConnectionState;
  /** Why the subscription was refused, or the feed's last error; null when all is well. */
  error: string | null;
}

const noSeries: SeriesState[] = [];
const noAlerts: ActiveAlert[] = [];

/** A stable key of a filter: two filters with the same content give the same subscription. */
export function filterKey(f: FeedFilter): string {
  const tags = f.tags ? Object.keys(f.tags).sort().map((k) => [k, f.tags![k]]) : null;
  return JSON.stringify([f.channel, f.measurement ?? null, tags, f.fields ?? null, f.tier ?? null]);
}

/**
 * The series (or alerts) of one feed subscription, kept up to date: the component renders again on every change
 * of the store or of the connection, the subscription follows the filter, and everything is released on unmount.
 */
export function useIngestFeed(options: UseIngestFeedOptions): IngestFeedState {
  const { client: given, url, token, WebSocket } = options;
  const [owned, setOwned] = useState<IngestClient | null>(null);

  // A client of our own when none is given, one per url and token.
  useEffect(() => {
    if (given || !url) return;
    const c = new IngestClient(token === undefined ? { url, WebSocket } : { url, token, WebSocket });
    c.connect();
    setOwned(c);
    return () => {
      c.close();
      setOwned((o) => (o === c ? null : o));
    };
  }, [given, url, token, WebSocket]);

  const client = given ?? owned;
  useEffect(() => {
    given?.connect();
  }, [given]);

  const key = filterKey(options);
  const [subscription, setSubscription] = useState<Subscription | null>(null);
  useEffect(() => {
    if (!client) return;
    const filter: FeedFilter = { channel: options.channel };
    if (options.measurement !== undefined) filter.measurement = options.measurement;
    if (options.tags !== undefined) filter.tags = options.tags;
    if (options.fields !== undefined) filter.fields = options.fields;
    if (options.tier !== undefined) filter.tier = options.tier;
    const s = client.subscribe(filter);
    setSubscription(s);
    return () => {
      s.unsubscribe();
      setSubscription((o) => (o === s ? null : o));
    };
    // The filter's content, not its identity, decides.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key]);

  const view = useMemo(() => new FeedView(client, subscription), [client, subscription]);
  return useSyncExternalStore(view.subscribe, view.getSnapshot, view.getSnapshot);
}

/** The hook's external store: one immutable state object, rebuilt only when something it shows changed. */
class FeedView {
  private last: IngestFeedState | null = null;

  constructor(
    private readonly client: IngestClient | null,
    private readonly subscription: Subscription | null,
  ) {}

  subscribe = (onChange: () => void): (() => void) => {
    const stops = [
      this.client?.onState(onChange),
      this.client?.onError(onChange),
      this.subscription?.onChange(onChange),
    ];
    return () => {
      for (const stop of stops) stop?.();
    };
  };

  getSnapshot = (): IngestFeedState => {
    const store = this.subscription?.store;
    const series = store instanceof SeriesStore ? store.list() : noSeries;
    const alerts = store instanceof AlertStore ? store.list() : noAlerts;
    const status: ConnectionState = this.client?.state ?? 'closed';
    const error = this.subscription?.error ?? this.client?.lastError ?? null;
    const l = this.last;
    if (l && l.series === series && l.alerts === alerts && l.status === status && l.error === error) return l;
    this.last = { series, alerts, status, error };
    return this.last;
  };
}
