// The live feed's messages (GET /ws), both ways, as the daemon writes and reads them.
// Times are nanoseconds since the epoch as JavaScript numbers: JSON.parse rounds present-day values to a
// multiple of 256 ns, which is enough to order updates and to show a time.

/** The feed's channels. */
export type Channel = 'points' | 'aggregates' | 'alerts';

/** A tag set: key to value, e.g. `{ host: 'a' }`. */
export type Tags = Record<string, string>;

/** A field value: floats and integers are numbers, strings and booleans as such. */
export type FieldValue = number | string | boolean;

/** Alert levels. `ok` only appears in events (an alert that returns to ok is no longer active). */
export type AlertLevel = 'ok' | 'warn' | 'crit' | 'nodata';

/** A point (or a tier's window) as the feed sends it: `{measurement, tags, fields, time}`. */
export interface FeedPoint {
  measurement: string;
  tags: Tags;
  fields: Record<string, FieldValue>;
  /** Event time in ns. */
  time: number;
}

/** An active alert, as GET /api/alerts lists it and the feed's alerts snapshot carries it. */
export interface ActiveAlert {
  /** 16 hex digits, stable for a rule, database and series key. */
  id: string;
  rule: string;
  database: string;
  seriesKey: string;
  measurement: string;
  tags: Tags;
  /** The rule's field. */
  field: string;
  level: Exclude<AlertLevel, 'ok'>;
  /** Since when the alert is at this level, in ns. */
  since: number;
  /** The last evaluated value (absent when not finite). */
  value?: number;
  acknowledgedBy: string | null;
  /** When it was acknowledged (an ISO 8601 string). */
  acknowledgedAt: string | null;
}

/** One alert transition, as the feed sends it. */
export interface AlertEvent {
  id: string;
  rule: string;
  database: string;
  seriesKey: string;
  measurement: string;
  tags: Tags;
  field: string;
  level: AlertLevel;
  /** The level it left. */
  previous: AlertLevel;
  value?: number;
  /** Event time in ns: the `since` of the level it moved to. */
  time: number;
  message: string;
}

// ------------------------------------------------------------------------------------------ client → server

/** What a subscription matches. `measurement`, tag values and field keys are globs (`*`, `?`). */
export interface FeedFilter {
  channel: Channel;
  measurement?: string;
  tags?: Tags;
  fields?: string[];
  /** For `aggregates`: the tier's name (e.g. `1m`). */
  tier?: string;
}

export interface SubscribeRequest extends FeedFilter {
  op: 'subscribe';
}

export interface UnsubscribeRequest {
  op: 'unsubscribe';
  sub: number;
}

export type ClientRequest = SubscribeRequest | UnsubscribeRequest;

// ------------------------------------------------------------------------------------------ server → client

export interface SubscribedMessage {
  type: 'subscribed';
  sub: number;
  channel: Channel;
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  sub: number;
}

/** The picture of a `points` or `aggregates` subscription; all parts but the last carry `more: true`. */
export interface PointsSnapshotMessage {
  type: 'snapshot';
  sub: number;
  points: FeedPoint[];
  more?: boolean;
}

/** The picture of an `alerts` subscription: its matching active alerts. */
export interface AlertsSnapshotMessage {
  type: 'snapshot';
  sub: number;
  alerts: ActiveAlert[];
  more?: boolean;
}

export type SnapshotMessage = PointsSnapshotMessage | AlertsSnapshotMessage;

export interface PointsMessage {
  type: 'points';
  sub: number;
  points: FeedPoint[];
}

/** Closed windows of a tier (fields `<field>_<aggregate>`, measurement `<measurement>_<tier>`). */
export interface AggregatesMessage {
  type: 'aggregates';
  sub: number;
  points: FeedPoint[];
}

export interface AlertsMessage {
  type: 'alerts';
  sub: number;
  events: AlertEvent[];
}

export interface ConflatedPointUpdate {
  sub: number;
  point: FeedPoint;
}

export interface ConflatedAlertUpdate {
  sub: number;
  alert: AlertEvent;
}

export type ConflatedUpdate = ConflatedPointUpdate | ConflatedAlertUpdate;

/** What a slow client gets once it has caught up: the latest update per series (and per alert). */
export interface ConflatedMessage {
  type: 'conflated';
  updates: ConflatedUpdate[];
}

/** A request the daemon could not take; the connection stays open. */
export interface ErrorMessage {
  type: 'error';
  message: string;
}

export type ServerMessage =
  | SubscribedMessage
  | UnsubscribedMessage
  | SnapshotMessage
  | PointsMessage
  | AggregatesMessage
  | AlertsMessage
  | ConflatedMessage
  | ErrorMessage;

const types = new Set(['subscribed', 'unsubscribed', 'snapshot', 'points', 'aggregates', 'alerts', 'conflated', 'error']);

/** Parses one text frame; null for anything that is not a known server message. */
export function parseServerMessage(text: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && types.has(type) ? (value as ServerMessage) : null;
}

export function isAlertsSnapshot(m: SnapshotMessage): m is AlertsSnapshotMessage {
  return Array.isArray((m as AlertsSnapshotMessage).alerts);
}

export function isConflatedAlert(u: ConflatedUpdate): u is ConflatedAlertUpdate {
  return (u as ConflatedAlertUpdate).alert !== undefined;
}
