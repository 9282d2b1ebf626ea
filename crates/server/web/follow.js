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
  const env = {
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
  const onEvent = opts.onEvent ?? (() => {});
  const onStatus = opts.onStatus ?? (() => {});
  const store = opts.store ?? null;
  const jobId = opts.jobId;
  let tok = {
    token: opts.token,
    expiresAt: opts.expiresAt ?? null,
    refreshableFrom: opts.refreshableFrom ?? null,
  };
  let lastSeq = opts.lastSeq ?? 0;
  let ws = null;
  let timer = null;
  let refreshTimer = null;
  let attempt = 0;
  let ended = false;
  let status = null;
  /** @type {(v: any) => void} */
  let resolveDone = () => {};
  const done = new Promise((r) => { resolveDone = r; });

  const setStatus = (s) => { status = s; onStatus(s); };
  const save = () => store?.put(jobId, { ...(store.get(jobId) ?? {}), ...tok, lastSeq });
  const clear = (t) => { if (t !== null) env.clearTimeout(t); return null; };

  function end(s) {
    if (ended) return;
    ended = true;
    timer = clear(timer);
    refreshTimer = clear(refreshTimer);
    if (ws) { ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null; try { ws.close(1000); } catch { /* closed */ } ws = null; }
    // A finished job, or one the server will never serve again, is forgotten.
    if (s.state === 'done' || s.reason !== 'stopped') store?.delete(jobId);
    setStatus(s);
    resolveDone(s);
  }

  /** Halfway through the refresh window, when both ends are known. */
  function refreshDue() {
    const { refreshableFrom: from, expiresAt: exp } = tok;
    return from != null && exp != null ? from + (exp - from) / 2 : null;
  }

  function armRefresh() {
    refreshTimer = clear(refreshTimer);
    const due = refreshDue();
    if (due === null || ended) return;
    refreshTimer = env.setTimeout(() => { refreshTimer = null; refresh(); }, Math.max(0, due - env.now()));
  }

  let inFlight = null;
  /** One refresh at a time; on success the next one is scheduled. */
  function refresh() {
    inFlight ??= doRefresh().finally(() => { inFlight = null; armRefresh(); });
    return inFlight;
  }

  /** `POST /api/token/refresh`; a 409 means another holder won: use its stored token. */
  async function doRefresh() {
    try {
      const r = await env.fetch(`${env.baseUrl}/api/token/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jobId, oldToken: tok.token }),
      });
      if (!r.ok) throw new Error(`refresh answered ${r.status}`);
      const body = await r.json();
      const span = tok.expiresAt != null && tok.refreshableFrom != null ? tok.expiresAt - tok.refreshableFrom : null;
      const expiresAt = Number.parseInt(body.expiresAt, 10);
      tok = {
        token: body.token,
        expiresAt: Number.isFinite(expiresAt) ? expiresAt : null,
        refreshableFrom: Number.isFinite(expiresAt) && span !== null ? expiresAt - span : null,
      };
      save();
      return true;
    } catch {
      const other = store?.get(jobId);
      if (other?.token && other.token !== tok.token) {
        tok = { token: other.token, expiresAt: other.expiresAt ?? null, refreshableFrom: other.refreshableFrom ?? null };
        return true;
      }
      // No retry loop: the next reconnect will tell.
      tok = { ...tok, refreshableFrom: null };
      return false;
    }
  }

  /** `GET /api/job-state` once: `{status, body}`, status 0 on a transport error. */
  async function jobState() {
    try {
      const r = await env.fetch(`${env.baseUrl}/api/job-state/${encodeURIComponent(jobId)}`, {
        headers: { Authorization: `Bearer ${tok.token}` },
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    } catch {
      return { status: 0, body: null };
    }
  }

  function wsUrl() {
    const base = env.baseUrl.replace(/^http/, 'ws');
    const q = `jobId=${encodeURIComponent(jobId)}&token=${encodeURIComponent(tok.token)}&lastSeq=${lastSeq}`;
    return `${base}/ws/progress?${q}`;
  }

  function connect() {
    timer = null;
    if (ended) return;
    setStatus({ state: 'connecting' });
    let opened = false;
    const sock = new env.WebSocket(wsUrl());
    ws = sock;
    sock.onopen = () => {
      opened = true;
      attempt = 0;
      sock.send(JSON.stringify({ type: 'ready' }));
      setStatus({ state: 'open' });
    };
    sock.onmessage = (m) => receive(m.data);
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (ended) return;
      if (opened) scheduleReconnect();
      else handshakeFailed();
    };
  }

  function receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!msg || CONTROL.has(msg.type)) return;
    if (msg.type === 'job_state') {
      lastSeq = Math.max(lastSeq, msg.payload?.state?.lastSeq ?? 0);
      save();
      onEvent(msg);
      return;
    }
    const seq = msg.seq ?? 0;
    if (seq <= lastSeq) return;
    lastSeq = seq;
    save();
    onEvent(msg);
    if (isTerminalEvent(msg)) end({ state: 'done' });
  }

  /**
   * A browser never shows a refused upgrade's HTTP status, so ask the
   * state endpoint what the refusal meant: 401 expired → refresh; other
   * 401 and 404 → stop; anything else → back off and try again.
   */
  async function handshakeFailed() {
    const { status: code, body } = await jobState();
    if (ended) return;
    if (code === 404) return end({ state: 'failed', reason: 'job_gone' });
    if (code === 401) {
      const expired = body?.code === 'TOKEN_EXPIRED';
      const canRefresh = expired && (tok.refreshableFrom == null || env.now() >= tok.refreshableFrom)
        && (tok.expiresAt == null || env.now() < tok.expiresAt);
      if (!canRefresh || !(await refresh())) {
        return end({ state: 'failed', reason: expired ? 'token_expired' : 'unauthorized' });
      }
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (ended) return;
    if (attempt >= env.reconnect.maxAttempts) { resync(); return; }
    const delayMs = backoffDelay(attempt, env.reconnect, env.random);
    attempt += 1;
    setStatus({ state: 'reconnecting', attempt, of: env.reconnect.maxAttempts, delayMs });
    timer = env.setTimeout(async () => {
      timer = null;
      const due = refreshDue();
      if (due !== null && due <= env.now()) await refresh();
      connect();
    }, delayMs);
  }

  function deliverState(state) {
    lastSeq = Math.max(lastSeq, state.lastSeq ?? 0);
    save();
    onEvent({ type: 'job_state', jobId, pipeline: state.pipeline, payload: { type: 'job_state', state } });
    if (TERMINAL_STATUS.has(state.status)) end({ state: 'done' });
  }

  /** After the last reconnect: the state over HTTP, retrying only 5xx and transport errors. */
  async function resync() {
    setStatus({ state: 'resyncing' });
    let last = null;
    for (let i = 0; i < env.resync.tries; i++) {
      last = await jobState();
      if (ended) return;
      if (last.status === 200) {
        deliverState(last.body);
        if (!ended) setStatus({ state: 'gave_up', reason: 'the live connection could not be restored' });
        return;
      }
      if (last.status === 404) return end({ state: 'failed', reason: 'job_gone' });
      if (last.status >= 400 && last.status < 500) return end({ state: 'failed', reason: 'unauthorized' });
      if (i + 1 < env.resync.tries) {
        await new Promise((r) => { timer = env.setTimeout(r, env.resync.waitsMs[i] ?? 0); });
        timer = null;
        if (ended) return;
      }
    }
    setStatus({ state: 'gave_up', reason: `the server could not be reached (last answer ${last?.status || 'none'})` });
  }

  /** Try again now: after giving up (the Retry button), or when the network returns. */
  function retryNow() {
    if (ended || ws) return;
    if (status?.state !== 'reconnecting' && status?.state !== 'gave_up') return;
    timer = clear(timer);
    attempt = 0;
    connect();
  }

  save();
  armRefresh();
  connect();
  return {
    jobId,
    done,
    retryNow,
    stop: () => end({ state: 'failed', reason: 'stopped' }),
    get lastSeq() { return lastSeq; },
    get token() { return tok.token; },
    get status() { return status; },
  };
}
