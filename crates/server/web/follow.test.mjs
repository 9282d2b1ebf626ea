// Unit tests of follow.js under `node --test` (scripts/test runs them): a fake
// socket, a fake HTTP API and a fake clock stand in for the browser, so each
// reconnect, resync and refresh decision is checked against the Rust SDK's
// numbers (crates/client/src/policy.rs) without waiting for real time.
import test from 'node:test';
import assert from 'node:assert/strict';
import { followJob, nominalDelay, backoffDelay, sessionStore, fetchResults, RECONNECT } from './follow.js';

const flush = () => new Promise((r) => setImmediate(r));

function fakeClock() {
  let t = 1_000_000;
  let next = 1;
  const timers = new Map();
  return {
    now: () => t,
    setTimeout: (fn, ms) => { const id = next++; timers.set(id, { at: t + ms, fn }); return id; },
    clearTimeout: (id) => { timers.delete(id); },
    pending: () => [...timers.values()].map((x) => x.at - t).sort((a, b) => a - b),
    /** Runs every timer due within `ms`, in order, letting promises settle between. */
    async advance(ms) {
      const end = t + ms;
      for (;;) {
        await flush();
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
      await flush();
    },
  };
}

function fakeSockets() {
  const all = [];
  class FakeWebSocket {
    constructor(url) { this.url = url; this.sent = []; this.closed = null; all.push(this); }
    send(d) { this.sent.push(JSON.parse(d)); }
    close(code) { this.closed = code; }
    open() { this.onopen?.(); }
    message(m) { this.onmessage?.({ data: JSON.stringify(m) }); }
    drop(code = 1006) { this.onclose?.({ code }); }
  }
  return { all, FakeWebSocket, last: () => all[all.length - 1] };
}

/** A fake API: `routes` maps "METHOD path" to a function giving [status, body]. */
function fakeApi(routes) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    const key = `${init.method ?? 'GET'} ${u.pathname}`;
    calls.push({ key, init });
    const h = routes[key];
    if (!h) throw new TypeError('fetch failed');
    const [status, body] = h(init, calls.length);
    return new Response(JSON.stringify(body), { status });
  };
  return { fetch, calls };
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    key: (i) => [...m.keys()][i] ?? null,
    get length() { return m.size; },
  };
}

const ev = (type, seq, payload = {}) => ({ type, jobId: 'j1', pipeline: 'csv_import', version: '1.0.0', seq, payload: { type, ...payload } });
const state = (status, lastSeq, extra = {}) => ({ jobId: 'j1', pipeline: 'csv_import', status, totalCount: 10, processedCount: 4, successCount: 4, failureCount: 0, currentStatus: 'x', lastSeq, ...extra });

function setup(extra = {}, routes = {}) {
  const clock = fakeClock();
  const ws = fakeSockets();
  const api = fakeApi(routes);
  const events = [];
  const statuses = [];
  const storage = memoryStorage();
  const store = sessionStore(storage);
  const f = followJob({
    jobId: 'j1', token: 't1', baseUrl: 'http://srv', WebSocket: ws.FakeWebSocket, fetch: api.fetch,
    setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: clock.now, random: () => 0.5,
    store, onEvent: (m) => events.push(m), onStatus: (s) => statuses.push(s), ...extra,
  });
  return { clock, ws, api, events, statuses, store, storage, f };
}

test('backoff is the SDK\'s: 1, 2, 4, 8, 16 s capped at 30 s, jittered by at most 20 %', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => nominalDelay(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(RECONNECT.maxAttempts, 5);
  for (let n = 0; n < 5; n++) {
    assert.equal(backoffDelay(n, RECONNECT, () => 0), nominalDelay(n) * 0.8);
    assert.equal(backoffDelay(n, RECONNECT, () => 1), Math.min(nominalDelay(n) * 1.2, 30000));
  }
});

test('sends ready, delivers each event once and in order, ends at the terminal event', async () => {
  const { ws, events, statuses, store, f } = setup();
  const s = ws.last();
  assert.match(s.url, /^ws:\/\/srv\/ws\/progress\?jobId=j1&token=t1&lastSeq=0$/);
  s.open();
  assert.deepEqual(s.sent, [{ type: 'ready' }]);
  s.message({ type: 'ready_ack', payload: { type: 'ready_ack' } });
  s.message(ev('job_started', 1, { totalCount: 2 }));
  s.message(ev('job_progress', 2, { progress: 0.5 }));
  s.message(ev('job_progress', 2, { progress: 0.5 }));
  s.message(ev('job_progress', 1, { progress: 0.1 }));
  assert.equal(store.get('j1').lastSeq, 2);
  s.message(ev('job_complete', 3, { result: {} }));
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
  assert.equal(f.lastSeq, 3);
  assert.equal(statuses.at(-1).state, 'done');
  assert.equal(s.closed, 1000);
  assert.equal(store.get('j1'), null, 'the token is deleted when the job ends');
  assert.equal((await f.done).state, 'done');
});

test('a drop reconnects with backoff and resumes from lastSeq; a job_state moves lastSeq', async () => {
  const { clock, ws, events, statuses } = setup();
  ws.last().open();
  ws.last().message(ev('job_started', 1, { totalCount: 9 }));
  ws.last().drop(1006);
  assert.deepEqual(statuses.at(-1), { state: 'reconnecting', attempt: 1, of: 5, delayMs: 1000 });
  await clock.advance(999);
  assert.equal(ws.all.length, 1);
  await clock.advance(1);
  assert.match(ws.last().url, /lastSeq=1$/);
  ws.last().open();
  ws.last().message({ type: 'job_state', jobId: 'j1', pipeline: 'csv_import', payload: { type: 'job_state', state: state('running', 7) } });
  ws.last().message(ev('job_progress', 6, { progress: 0.6 }));
  ws.last().message(ev('job_progress', 8, { progress: 0.8 }));
  assert.deepEqual(events.map((e) => e.type === 'job_state' ? 'state' : e.seq), [1, 'state', 8]);
  ws.last().drop(1012);
  assert.equal(statuses.at(-1).delayMs, 1000, 'a successful open resets the attempts');
  await clock.advance(1000);
  assert.match(ws.last().url, /lastSeq=8$/);
});

test('after five failed attempts it resyncs over HTTP, retrying 5xx with 1, 2, 4 s waits, then gives up', async () => {
  let tries = 0;
  const { clock, ws, events, statuses, api, f } = setup({}, {
    'GET /api/job-state/j1': () => { tries++; return tries <= 5 ? [502, {}] : tries < 8 ? [503, {}] : [200, state('running', 4)]; },
  });
  ws.last().open();
  ws.last().drop();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    delays.push(statuses.at(-1).delayMs);
    await clock.advance(statuses.at(-1).delayMs);
    ws.last().drop(); // the handshake fails: the page asks the state endpoint, gets 502, backs off
    await clock.advance(0);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000]);
  assert.equal(ws.all.length, 6);
  assert.equal(statuses.at(-1).state, 'resyncing');
  assert.deepEqual(clock.pending(), [1000]);
  await clock.advance(1000);
  assert.deepEqual(clock.pending(), [2000]);
  await clock.advance(2000);
  assert.equal(tries, 8);
  assert.equal(events.at(-1).type, 'job_state');
  assert.equal(f.lastSeq, 4);
  assert.equal(statuses.at(-1).state, 'gave_up');
  assert.ok(api.calls.every((c) => c.init.headers.Authorization === 'Bearer t1'));
  f.retryNow();
  assert.equal(ws.all.length, 7, 'Retry connects at once');
  assert.match(ws.last().url, /lastSeq=4$/);
});

test('a resync that finds the job ended delivers its state and finishes', async () => {
  const { clock, ws, events, f } = setup({ reconnect: { ...RECONNECT, maxAttempts: 0 } }, {
    'GET /api/job-state/j1': () => [200, state('complete', 12)],
  });
  ws.last().open();
  ws.last().drop();
  await clock.advance(0);
  assert.equal((await f.done).state, 'done');
  assert.equal(events.at(-1).payload.state.status, 'complete');
});

test('a refused handshake is told apart by the state endpoint: 404 and 401 stop, no retry', async () => {
  for (const [status, body, reason] of [[404, { error: 'Job not found', code: 'JOB_NOT_FOUND' }, 'job_gone'],
    [401, { error: 'Invalid or expired token', code: 'INVALID_TOKEN' }, 'unauthorized']]) {
    const { clock, ws, f } = setup({}, { 'GET /api/job-state/j1': () => [status, body] });
    ws.last().drop();
    await clock.advance(60_000);
    assert.deepEqual(await f.done, { state: 'failed', reason });
    assert.equal(ws.all.length, 1);
  }
});

test('an expired token inside the refresh window is refreshed, then the job is resumed with the new one', async () => {
  const refreshes = [];
  const { clock, ws, store } = setup({ expiresAt: 1_000_000 + 1000, refreshableFrom: 1_000_000 - 100 }, {
    'GET /api/job-state/j1': () => [401, { error: 'Invalid or expired token', code: 'TOKEN_EXPIRED' }],
    'POST /api/token/refresh': (init) => { refreshes.push(JSON.parse(init.body)); return [200, { jobId: 'j1', token: 't2', expiresAt: '9000000' }]; },
  });
  ws.last().drop();
  await clock.advance(1000);
  assert.deepEqual(refreshes, [{ jobId: 'j1', oldToken: 't1' }]);
  assert.match(ws.last().url, /token=t2&/);
  assert.equal(store.get('j1').token, 't2');
  assert.equal(store.get('j1').refreshableFrom, 9_000_000 - 1100);
});

test('an expired token outside the refresh window ends the job view with token_expired', async () => {
  const { clock, ws, f } = setup({ expiresAt: 1_000_000 - 1, refreshableFrom: 1_000_000 - 100 }, {
    'GET /api/job-state/j1': () => [401, { code: 'TOKEN_EXPIRED' }],
  });
  ws.last().drop();
  await clock.advance(0);
  assert.deepEqual(await f.done, { state: 'failed', reason: 'token_expired' });
});

test('the token is refreshed halfway through its refresh window; a lost race takes the winner\'s token', async () => {
  let n = 0;
  const { clock, ws, store } = setup({ refreshableFrom: 1_000_000 + 1000, expiresAt: 1_000_000 + 3000 }, {
    'POST /api/token/refresh': () => (++n === 1 ? [200, { jobId: 'j1', token: 't2', expiresAt: '1004000' }] : [409, { success: false }]),
  });
  ws.last().open();
  assert.deepEqual(clock.pending(), [2000]);
  await clock.advance(2000);
  assert.equal(store.get('j1').token, 't2');
  assert.equal(store.get('j1').refreshableFrom, 1_002_000);
  // Another tab refreshes first and stores its token; ours gets 409 and adopts it.
  store.put('j1', { ...store.get('j1'), token: 't3', refreshableFrom: 1_007_000, expiresAt: 1_009_000 });
  await clock.advance(1000);
  assert.equal(n, 2);
  assert.deepEqual(clock.pending(), [5000], 'the next refresh is due halfway through the new window');
  ws.last().drop();
  await clock.advance(1000);
  assert.match(ws.last().url, /token=t3&/);
});

test('a page reload resumes from the stored position', () => {
  const storage = memoryStorage();
  const store = sessionStore(storage);
  store.put('j9', { token: 'tk', lastSeq: 41, view: {} });
  assert.deepEqual(store.ids(), ['j9']);
  const ws = fakeSockets();
  const f = followJob({ jobId: 'j9', token: store.get('j9').token, lastSeq: store.get('j9').lastSeq, baseUrl: 'https://h', WebSocket: ws.FakeWebSocket, fetch: async () => { throw new Error('unused'); }, store });
  assert.equal(ws.last().url, 'wss://h/ws/progress?jobId=j9&token=tk&lastSeq=41');
  assert.deepEqual(store.get('j9').view, {}, 'the page\'s own fields are kept');
  f.stop();
});

test('fetchResults sends the bearer token and surfaces the server\'s error code', async () => {
  const api = fakeApi({
    'GET /api/jobs/ok/results': (init) => [200, { success: true, data: { books: [], auth: init.headers.Authorization } }],
    'GET /api/jobs/gone/results': () => [404, { success: false, error: { code: 'JOB_NOT_FOUND', message: 'Job not found' } }],
  });
  assert.equal((await fetchResults({ jobId: 'ok', token: 'tk', baseUrl: 'http://h', fetch: api.fetch })).auth, 'Bearer tk');
  await assert.rejects(fetchResults({ jobId: 'gone', token: 'tk', baseUrl: 'http://h', fetch: api.fetch }), { code: 'JOB_NOT_FOUND', status: 404 });
});
