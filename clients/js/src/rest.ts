// The daemon's REST API: status, alerts and their acknowledgement, the live snapshot and history.

import type { ActiveAlert, FieldValue, Tags } from './messages.js';

export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

/** A REST call that did not succeed: the HTTP status (0 when the daemon could not be reached) and its message. */
export class IngestError extends Error {
  override readonly name = 'IngestError';
  constructor(
    message: string,
    /** HTTP status; 0 for a network failure. */
    readonly status: number,
    /** The method and path asked. */
    readonly request: string,
    /** The answer's body as text, when there was one. */
    readonly body?: string,
  ) {
    super(message);
  }
}

/** GET /api/status: the running graph. Only the parts most pages show are typed; the rest is there as JSON. */
export interface IngestStatus {
  stages?: unknown;
  sinks?: unknown;
  feed?: unknown;
  memory?: unknown;
  dependencies?: unknown;
  [key: string]: unknown;
}

/** POST /api/alerts/{id}/ack's answer. */
export interface Acknowledgement {
  id: string;
  acknowledgedBy: string;
  acknowledgedAt: string;
}

/** Filters of GET /api/snapshot (globs, as the feed's). */
export interface SnapshotFilter {
  measurement?: string;
  tags?: Tags;
  fields?: string[];
}

/** One series of GET /api/snapshot. */
export interface SnapshotSeries {
  database: string;
  seriesKey: string;
  measurement: string;
  tags: Tags;
  fields: Record<string, { value: FieldValue; time: number }>;
  updatedMs: number;
}

/** Parameters of GET /api/history. Times: RFC 3339, unix seconds, or relative (`-15m`, `-2h`, `-7d`). */
export interface HistoryParams {
  measurement: string;
  field: string | string[];
  from?: string | number | Date;
  to?: string | number | Date;
  /** `raw` or a tier's name; chosen by the range when absent. */
  tier?: string;
  /** The tier's aggregate (default `mean`). */
  agg?: string;
  tags?: Tags;
  db?: string;
  rp?: string;
}

export interface HistorySeries {
  tags: Tags;
  columns: string[];
  values: unknown[][];
}

export interface HistoryResult {
  database: string;
  measurement: string;
  tier: string;
  intervalSeconds: number;
  from: string;
  to: string;
  query: string;
  series: HistorySeries[];
}

/** The REST calls, against `baseUrl`, with `token` as `Authorization: Bearer`. */
export class RestApi {
  protected readonly baseUrl: string;
  protected readonly token: string | undefined;
  private readonly fetchImpl: FetchFunction;

  constructor(options: { url: string; token?: string; fetch?: FetchFunction }) {
    this.baseUrl = options.url.endsWith('/') ? options.url : options.url + '/';
    this.token = options.token;
    const global = (globalThis as { fetch?: FetchFunction }).fetch;
    if (!options.fetch && !global) throw new Error('no fetch: pass the fetch option');
    // Kept as a method, the global fetch would be called on this object, which a browser refuses ("Illegal
    // invocation"): it must be called on the global object.
    this.fetchImpl = options.fetch ?? global!.bind(globalThis);
  }

  /** GET /api/status. */
  status(): Promise<IngestStatus> {
    return this.request<IngestStatus>('GET', 'api/status');
  }

  /** GET /api/alerts: the active alerts. */
  alerts(): Promise<ActiveAlert[]> {
    return this.request<ActiveAlert[]>('GET', 'api/alerts');
  }

  /** POST /api/alerts/{id}/ack. `by` counts only with auth off (with auth on, the token's name is recorded). */
  acknowledge(id: string, by?: string): Promise<Acknowledgement> {
    const q = new URLSearchParams();
    if (by !== undefined) q.set('by', by);
    return this.request<Acknowledgement>('POST', `api/alerts/${encodeURIComponent(id)}/ack`, q);
  }

  /** GET /api/snapshot: the latest value of every field of the matching series. */
  snapshot(filter: SnapshotFilter = {}): Promise<SnapshotSeries[]> {
    const q = new URLSearchParams();
    if (filter.measurement !== undefined) q.set('measurement', filter.measurement);
    for (const [k, v] of Object.entries(filter.tags ?? {})) q.append('tag', `${k}:${v}`);
    for (const f of filter.fields ?? []) q.append('field', f);
    return this.request<SnapshotSeries[]>('GET', 'api/snapshot', q);
  }

  /** GET /api/history: raw points or a tier's windows over a time range. */
  history(params: HistoryParams): Promise<HistoryResult> {
    const q = new URLSearchParams();
    q.set('measurement', params.measurement);
    for (const f of Array.isArray(params.field) ? params.field : [params.field]) q.append('field', f);
    if (params.from !== undefined) q.set('from', timeParam(params.from));
    if (params.to !== undefined) q.set('to', timeParam(params.to));
    if (params.tier !== undefined) q.set('tier', params.tier);
    if (params.agg !== undefined) q.set('agg', params.agg);
    for (const [k, v] of Object.entries(params.tags ?? {})) q.append('tag', `${k}:${v}`);
    if (params.db !== undefined) q.set('db', params.db);
    if (params.rp !== undefined) q.set('rp', params.rp);
    return this.request<HistoryResult>('GET', 'api/history', q);
  }

  /** One call; the JSON answer, or an IngestError with the daemon's message. */
  protected async request<T>(method: string, path: string, query?: URLSearchParams): Promise<T> {
    const qs = query && [...query.keys()].length ? '?' + query.toString() : '';
    const url = new URL(path + qs, this.baseUrl).toString();
    const what = `${method} /${path}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers });
    } catch (e) {
      throw new IngestError(`${what}: ${e instanceof Error ? e.message : String(e)}`, 0, what);
    }
    const text = await response.text();
    if (!response.ok) throw new IngestError(`${what}: ${errorMessage(text) ?? `HTTP ${response.status}`}`, response.status, what, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new IngestError(`${what}: the answer is not JSON`, response.status, what, text);
    }
  }
}

function timeParam(t: string | number | Date): string {
  return t instanceof Date ? t.toISOString() : String(t);
}

/** The daemon's message: `{"error": …}` (1.x form) or `{"code", "message"}` (2.x form). */
function errorMessage(body: string): string | undefined {
  try {
    const o = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof o.error === 'string') return o.error;
    if (typeof o.message === 'string') return o.message;
  } catch {
    // not JSON: the text itself
  }
  const t = body.trim();
  return t ? t.slice(0, 500) : undefined;
}
