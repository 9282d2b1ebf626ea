// @ts-check
/**
 * Follow one BooksTrack job from a browser: the same reconnect, resume,
 * resync and token-refresh behaviour as the Rust SDK
 * (crates/client/src/stream.rs, numbers from crates/client/src/policy.rs),
 * over the wire contract of docs/PROTOCOL.md. Served by the server at
 * `/js/follow.js`; documented in docs/web-client.md.
 *
 * Everything the module touches in the browser (WebSocket, fetch, timers,
 * the clock, randomness) can be passed in, which is how
 * crates/server/web/follow.test.mjs drives it under `node --test`.
 */

/** Reconnect backoff: 1, 2, 4, 8, 16 s (cap 30 s), ±20 %, at most 5 tries. */
export const RECONNECT = Object.freeze({ baseMs: 1000, capMs: 30000, maxAttempts: 5, jitter: 0.2 });
/** `GET /api/job-state` after the last reconnect: 3 tries, waiting 1, 2, 4 s. */
export const RESYNC = Object.freeze({ tries: 3, waitsMs: [1000, 2000, 4000] });

/** The un-jittered delay before reconnect attempt `n` (0-based). */
export function nominalDelay(n, policy = RECONNECT) {
  return Math.min(policy.baseMs * 2 ** Math.min(n, 16), policy.capMs);
}

/** The delay before attempt `n`, jittered so dropped clients do not return at once. */
export function backoffDelay(n, policy = RECONNECT, random = Math.random) {
  const j = policy.jitter > 0 ? (random() * 2 - 1) * policy.jitter : 0;
  return Math.min(Math.max(0, nominalDelay(n, policy) * (1 + j)), policy.capMs);
}

const TERMINAL_STATUS = new Set(['complete', 'failed', 'cancelled']);
const CONTROL = new Set(['ping', 'pong', 'ready_ack']);

/** `job_complete` and `error` end a job; the server then closes with 1000. */
export function isTerminalEvent(msg) {
  return msg.type === 'job_complete' || msg.type === 'error';
}

/**
 * A token store over `sessionStorage` (or anything with its three methods):
 * one JSON record per job under `bookstrack.job.<jobId>`, so a reload
 * finds the job, its token and its position again.
 */
export function sessionStore(storage = globalThis.sessionStorage) {
  const key = (id) => `bookstrack.job.${id}`;
  return {
    get(id) {
      try { return JSON.parse(storage.getItem(key(id)) ?? 'null'); } catch { return null; }
    },
    put(id, rec) { storage.setItem(key(id), JSON.stringify(rec)); },
    delete(id) { storage.removeItem(key(id)); },
    ids() {
      const out = [];
      for (let i = 0; i < storage.length; i++) {
        const k = storage.key(i);
        if (k && k.startsWith('bookstrack.job.')) out.push(k.slice('bookstrack.job.'.length));
      }
      return out;
    },
  };
}

/** `GET /api/jobs/{id}/results`: the job's books, duplicates and row errors. */
export async function fetchResults({ jobId, token, baseUrl = '', fetch = globalThis.fetch }) {
  const r = await fetch(`${baseUrl}/api/jobs/${encodeURIComponent(jobId)}/results`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await r.json().catch(() => null);
  if (!r.ok || !body?.success) {
    const e = body?.error ?? { code: `HTTP_${r.status}`, message: r.statusText };
    throw Object.assign(new Error(e.message), { code: e.code, status: r.status });
  }
  return body.data;
}

/**
 * Follows a job until its terminal event, `stop()`, or a fatal answer.
 *
 * `onEvent(msg)` gets each job event once and in order: `job_started`,
 * `job_progress`, `job_state` (a snapshot: the view must be replaced, any
 * events it covers are never sent again), `job_complete`, `error`.
 * `onStatus(s)` reports the connection: `{state: 'connecting' | 'open' |
 * 'reconnecting' (attempt, delayMs) | 'resyncing' | 'gave_up' (reason) |
 * 'done' | 'failed' (reason: 'unauthorized' | 'job_gone' | 'token_expired')}`.
 */
export function followJob(opts) {
  return new JobFollower(opts);
}

/** The state of one followed job; `followJob` is how it is made and started. */
class JobFollower {
  constructor(opts) {
    this.env = {
      baseUrl: opts.baseUrl ?? globalThis.location?.origin ?? '',
      WebSocket: opts.WebSocket ?? globalThis.WebSocket,
      fetch: opts.fetch ?? globalThis.fetch,
      setTimeout: opts.setTimeout ?? globalThis.setTimeout.bind(globalThis),
      clearTimeout: opts.clearTimeout ?? globalThis.clearTimeout.bind(globalThis),
      now: opts.now ?? Date.now,
      random: opts.random ?? Math.random,
      reconnect: opts.reconnect ?? RECONNECT,
      resync: opts.resync ?? RESYNC,
    };
    this.onEvent = opts.onEvent ?? (() => {});
    this.onStatus = opts.onStatus ?? (() => {});
    this.store = opts.store ?? null;
    this.jobId = opts.jobId;
    this.tok = { token: opts.token, expiresAt: opts.expiresAt ?? null, refreshableFrom: opts.refreshableFrom ?? null };
    this.seq = opts.lastSeq ?? 0;
    this.ws = null;
    this.timer = null;
    this.refreshTimer = null;
    this.inFlight = null;
    this.attempt = 0;
    this.ended = false;
    this.current = null;
    /** @type {(v: any) => void} */
    this.resolveDone = () => {};
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.save();
    this.armRefresh();
    this.connect();
  }

  get lastSeq() { return this.seq; }
  get token() { return this.tok.token; }
  get status() { return this.current; }

  setStatus(s) { this.current = s; this.onStatus(s); }
  save() { this.store?.put(this.jobId, { ...(this.store.get(this.jobId) ?? {}), ...this.tok, lastSeq: this.seq }); }
  clear(t) { if (t !== null) this.env.clearTimeout(t); return null; }

  /** Stops following; the stored record is kept, so a later page can resume. */
  stop() { this.end({ state: 'failed', reason: 'stopped' }); }

  end(s) {
    if (this.ended) return;
    this.ended = true;
    this.timer = this.clear(this.timer);
    this.refreshTimer = this.clear(this.refreshTimer);
    const ws = this.ws;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try { ws.close(1000); } catch { /* already closed */ }
      this.ws = null;
    }
    // A finished job, or one the server will never serve again, is forgotten.
    if (s.state === 'done' || s.reason !== 'stopped') this.store?.delete(this.jobId);
    this.setStatus(s);
    this.resolveDone(s);
  }

  /** Halfway through the refresh window, when both ends are known. */
  refreshDue() {
    const { refreshableFrom: from, expiresAt: exp } = this.tok;
    return from != null && exp != null ? from + (exp - from) / 2 : null;
  }

  armRefresh() {
    this.refreshTimer = this.clear(this.refreshTimer);
    const due = this.refreshDue();
    if (due === null || this.ended) return;
    this.refreshTimer = this.env.setTimeout(() => { this.refreshTimer = null; this.refresh(); },
      Math.max(0, due - this.env.now()));
  }

  /** One refresh at a time; on success the next one is scheduled. */
  refresh() {
    this.inFlight ??= this.doRefresh().finally(() => { this.inFlight = null; this.armRefresh(); });
    return this.inFlight;
  }

  /** `POST /api/token/refresh`; a 409 means another holder won: use its stored token. */
  async doRefresh() {
    const { env, tok } = this;
    try {
      const r = await env.fetch(`${env.baseUrl}/api/token/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jobId: this.jobId, oldToken: tok.token }),
      });
      if (!r.ok) throw new Error(`refresh answered ${r.status}`);
      const body = await r.json();
      const span = tok.expiresAt != null && tok.refreshableFrom != null ? tok.expiresAt - tok.refreshableFrom : null;
      const expiresAt = Number.parseInt(body.expiresAt, 10);
      this.tok = {
        token: body.token,
        expiresAt: Number.isFinite(expiresAt) ? expiresAt : null,
        refreshableFrom: Number.isFinite(expiresAt) && span !== null ? expiresAt - span : null,
      };
      this.save();
      return true;
    } catch {
      const other = this.store?.get(this.jobId);
      if (other?.token && other.token !== this.tok.token) {
        this.tok = { token: other.token, expiresAt: other.expiresAt ?? null, refreshableFrom: other.refreshableFrom ?? null };
        return true;
      }
      // No retry loop: the next reconnect will tell.
      this.tok = { ...this.tok, refreshableFrom: null };
      return false;
    }
  }

  /** `GET /api/job-state` once: `{status, body}`, status 0 on a transport error. */
  async jobState() {
    try {
      const r = await this.env.fetch(`${this.env.baseUrl}/api/job-state/${encodeURIComponent(this.jobId)}`, {
        headers: { Authorization: `Bearer ${this.tok.token}` },
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    } catch {
      return { status: 0, body: null };
    }
  }

  wsUrl() {
    const base = this.env.baseUrl.replace(/^http/, 'ws');
    const q = `jobId=${encodeURIComponent(this.jobId)}&token=${encodeURIComponent(this.tok.token)}&lastSeq=${this.seq}`;
    return `${base}/ws/progress?${q}`;
  }

  connect() {
    this.timer = null;
    if (this.ended) return;
    this.setStatus({ state: 'connecting' });
    let opened = false;
    const sock = new this.env.WebSocket(this.wsUrl());
    this.ws = sock;
    sock.onopen = () => {
      opened = true;
      this.attempt = 0;
      sock.send(JSON.stringify({ type: 'ready' }));
      this.setStatus({ state: 'open' });
    };
    sock.onmessage = (m) => this.receive(m.data);
    sock.onclose = () => {
      if (this.ws !== sock) return;
      this.ws = null;
      if (this.ended) return;
      if (opened) this.scheduleReconnect();
      else this.handshakeFailed();
    };
  }

  receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!msg || CONTROL.has(msg.type)) return;
    if (msg.type === 'job_state') {
      this.seq = Math.max(this.seq, msg.payload?.state?.lastSeq ?? 0);
      this.save();
      this.onEvent(msg);
      return;
    }
    const seq = msg.seq ?? 0;
    if (seq <= this.seq) return;
    this.seq = seq;
    this.save();
    this.onEvent(msg);
    if (isTerminalEvent(msg)) this.end({ state: 'done' });
  }

  /**
   * A browser never shows a refused upgrade's HTTP status, so ask the
   * state endpoint what the refusal meant: 401 expired → refresh; other
   * 401 and 404 → stop; anything else → back off and try again.
   */
  async handshakeFailed() {
    const { status: code, body } = await this.jobState();
    if (this.ended) return;
    if (code === 404) return this.end({ state: 'failed', reason: 'job_gone' });
    if (code === 401) {
      const expired = body?.code === 'TOKEN_EXPIRED';
      const now = this.env.now();
      const canRefresh = expired && (this.tok.refreshableFrom == null || now >= this.tok.refreshableFrom)
        && (this.tok.expiresAt == null || now < this.tok.expiresAt);
      if (!canRefresh || !(await this.refresh())) {
        return this.end({ state: 'failed', reason: expired ? 'token_expired' : 'unauthorized' });
      }
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.ended) return;
    const policy = this.env.reconnect;
    if (this.attempt >= policy.maxAttempts) { this.resync(); return; }
    const delayMs = backoffDelay(this.attempt, policy, this.env.random);
    this.attempt += 1;
    this.setStatus({ state: 'reconnecting', attempt: this.attempt, of: policy.maxAttempts, delayMs });
    this.timer = this.env.setTimeout(async () => {
      this.timer = null;
      const due = this.refreshDue();
      if (due !== null && due <= this.env.now()) await this.refresh();
      this.connect();
    }, delayMs);
  }

  deliverState(state) {
    this.seq = Math.max(this.seq, state.lastSeq ?? 0);
    this.save();
    this.onEvent({ type: 'job_state', jobId: this.jobId, pipeline: state.pipeline, payload: { type: 'job_state', state } });
    if (TERMINAL_STATUS.has(state.status)) this.end({ state: 'done' });
  }

  /** After the last reconnect: the state over HTTP, retrying only 5xx and transport errors. */
  async resync() {
    this.setStatus({ state: 'resyncing' });
    const { tries, waitsMs } = this.env.resync;
    let last = null;
    for (let i = 0; i < tries; i++) {
      last = await this.jobState();
      if (this.ended) return;
      if (last.status === 200) {
        this.deliverState(last.body);
        if (!this.ended) this.setStatus({ state: 'gave_up', reason: 'the live connection could not be restored' });
        return;
      }
      if (last.status === 404) return this.end({ state: 'failed', reason: 'job_gone' });
      if (last.status >= 400 && last.status < 500) return this.end({ state: 'failed', reason: 'unauthorized' });
      if (i + 1 < tries) {
        await new Promise((r) => { this.timer = this.env.setTimeout(r, waitsMs[i] ?? 0); });
        this.timer = null;
        if (this.ended) return;
      }
    }
    this.setStatus({ state: 'gave_up', reason: `the server could not be reached (last answer ${last?.status || 'none'})` });
  }

  /** Try again now: after giving up (the Retry button), or when the network returns. */
  retryNow() {
    if (this.ended || this.ws) return;
    const state = this.current?.state;
    if (state !== 'reconnecting' && state !== 'gave_up') return;
    this.timer = this.clear(this.timer);
    this.attempt = 0;
    this.connect();
  }
}
