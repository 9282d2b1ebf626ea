// @ts-check
// The page served at `/`: starts jobs over the HTTP API and follows each with
// ./follow.js. A job's token, position, view and shown seqs live in
// sessionStorage (never in the URL), so a reload picks every job up again.
import { followJob, fetchResults, sessionStore } from './follow.js';

const $ = (sel, root = document) => /** @type {HTMLElement} */ (root.querySelector(sel));
const main = $('main');
const store = sessionStore();
/** @type {Map<string, any>} jobId → {rec, el, follower, results, samples} */
const jobs = new Map();
let uploads = 0;

/** The server's `--max-presented-tokens` default: tokens one request may present. */
const MAX_PRESENTED_TOKENS = 32;
const PIPELINES = { csv_import: 'Import', ai_scan: 'Shelf scan', batch_enrichment: 'Enrichment' };
const TABLE_ROWS = 200;

// Test hooks: the seqs each job has shown, as runs; `snap` marks a run that
// follows a rendered job_state snapshot (the only allowed reason for a gap).
window['__bt'] = {
  log: (id) => jobs.get(id)?.rec.log ?? [],
  seqs: (id) => (jobs.get(id)?.rec.log ?? []).flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i)),
  jobs: () => [...jobs.keys()],
};

function overall() {
  if (uploads > 0) return 'uploading';
  const all = [...jobs.values()];
  if (all.length === 0) return 'idle';
  if (all.some((j) => ['reconnecting', 'resyncing', 'gave_up'].includes(j.conn))) return 'reconnecting';
  if (all.some((j) => !j.ended)) return 'running';
  return all.some((j) => j.rec.view.status !== 'complete') ? 'failed' : 'complete';
}
const refreshState = () => { main.dataset.state = overall(); $('#no-jobs').hidden = jobs.size > 0; };
const announce = (text) => { $('#announcer').textContent = text; };

function showError(form, err) {
  const p = $('.error', form);
  p.hidden = !err;
  p.textContent = err ? `${err.code}: ${err.message}` : '';
}

/** POSTs a job start; answers `data` or throws the server's `{code, message}`. */
/**
 * Starts a job. `tokens` are earlier jobs' tokens, presented so the server
 * lets this one read their books (an enrichment of imported books, a scan
 * matched against this tab's imports): it reaches no job without its token.
 */
async function start(path, body, label, tokens = []) {
  uploads++;
  refreshState();
  try {
    const headers = body instanceof FormData ? {} : { 'Content-Type': 'application/json' };
    if (tokens.length > 0) headers['X-Bookstrack-Job-Tokens'] = tokens.join(',');
    const init = { method: 'POST', headers, body: body instanceof FormData ? body : JSON.stringify(body) };
    let r;
    try { r = await fetch(path, init); } catch {
      throw { code: 'CONNECTION_FAILED', message: 'the server could not be reached' };
    }
    const json = await r.json().catch(() => null);
    if (!r.ok || !json?.success) throw json?.error ?? { code: `HTTP_${r.status}`, message: r.statusText };
    addJob(json.data, label);
    return json.data;
  } finally {
    uploads--;
    refreshState();
  }
}

function onUpload(ev) {
  ev.preventDefault();
  const form = /** @type {HTMLFormElement} */ (ev.target);
  const files = [.../** @type {HTMLInputElement} */ ($('#file')).files ?? []];
  const format = /** @type {HTMLSelectElement} */ ($('#format')).value;
  const csvs = files.filter((f) => f.name.toLowerCase().endsWith('.csv') || f.type.includes('csv'));
  const photos = files.filter((f) => !csvs.includes(f));
  const starts = csvs.map((f) => {
    const fd = new FormData();
    fd.append('file', f, f.name);
    if (format) fd.append('format', format);
    return start('/api/import/csv', fd, { pipeline: 'csv_import', name: f.name });
  });
  if (photos.length > 0) {
    const fd = new FormData();
    const one = photos.length === 1;
    for (const p of photos) fd.append(one ? 'image' : 'photos', p, p.name);
    starts.push(start(one ? '/api/scan-bookshelf' : '/api/scan-bookshelf/batch', fd,
      { pipeline: 'ai_scan', name: photos.map((p) => p.name).join(', ') }, importTokens()));
  }
  if (starts.length === 0) return showError(form, { code: 'INVALID_REQUEST', message: 'choose a file first' });
  Promise.all(starts).then(() => { showError(form, null); form.reset(); }, (e) => showError(form, e));
}

function onIsbns(ev) {
  ev.preventDefault();
  const form = /** @type {HTMLFormElement} */ (ev.target);
  const isbns = /** @type {HTMLTextAreaElement} */ ($('#isbns')).value.split(/[\s,;]+/).filter(Boolean);
  const books = isbns.map((isbn) => ({ title: '', isbn }));
  start('/api/enrichment/start', { books }, { pipeline: 'batch_enrichment', name: `${books.length} ISBNs` })
    .then(() => { showError(form, null); form.reset(); }, (e) => showError(form, e));
}

/** A new job from a 202 answer, or (`rec` given) one found in sessionStorage. */
function addJob(data, label, rec = null) {
  const id = data.jobId;
  rec ??= {
    token: data.token, expiresAt: data.expiresAt ?? null, refreshableFrom: data.refreshableFrom ?? null,
    lastSeq: 0, pipeline: label.pipeline, name: label.name, log: [], snap: false, created: Date.now(),
    view: { status: 'queued', progress: 0, processed: 0, total: 0, success: 0, failure: 0, text: 'Waiting for the server', title: '' },
  };
  const el = /** @type {HTMLElement} */ (/** @type {HTMLTemplateElement} */ ($('#job-tpl')).content.firstElementChild.cloneNode(true));
  el.dataset.jobId = id;
  el.dataset.pipeline = rec.pipeline;
  $('.job-title', el).textContent = `${PIPELINES[rec.pipeline] ?? rec.pipeline}: ${rec.name}`;
  $('.job-title', el).id = `job-${id}`;
  el.setAttribute('aria-labelledby', `job-${id}`);
  $('#jobs').prepend(el);
  const job = { id, rec, el, results: null, samples: null, conn: 'connecting', ended: false, lastPct: -1, follower: null };
  jobs.set(id, job);
  store.put(id, rec);
  $('.retry', el).addEventListener('click', () => job.follower?.retryNow());
  $('.dl-csv', el).addEventListener('click', () => download(job, 'csv'));
  $('.dl-json', el).addEventListener('click', () => download(job, 'json'));
  $('.enrich', el).addEventListener('click', () => enrichImported(job));
  render(job);
  if (label) el.scrollIntoView({ block: 'nearest' });
  job.follower = followJob({
    jobId: id, token: rec.token, lastSeq: rec.lastSeq, expiresAt: rec.expiresAt, refreshableFrom: rec.refreshableFrom,
    store, onEvent: (m) => onEvent(job, m), onStatus: (s) => onStatus(job, s),
  });
  refreshState();
}

/** Records a shown seq in the job's runs. */
function logSeq(rec, seq) {
  const last = rec.log[rec.log.length - 1];
  if (last && !rec.snap && seq === last.to + 1) last.to = seq;
  else rec.log.push({ from: seq, to: seq, snap: rec.snap });
  rec.snap = false;
}

function onEvent(job, m) {
  const v = job.rec.view;
  const p = m.payload ?? {};
  if (m.type === 'job_state') {
    const s = p.state;
    Object.assign(v, {
      status: s.status, processed: s.processedCount, total: s.totalCount, success: s.successCount,
      failure: s.failureCount, text: s.currentStatus ?? v.text,
      progress: s.totalCount > 0 ? s.processedCount / s.totalCount : v.progress,
    });
    job.rec.snap = true;
  } else {
    logSeq(job.rec, m.seq);
    if (m.type === 'job_started') Object.assign(v, { status: 'running', total: p.totalCount, text: 'Started' });
    if (m.type === 'job_progress') {
      Object.assign(v, { status: 'running', progress: p.progress, text: p.status });
      if (p.booksProcessed != null) v.processed = p.booksProcessed;
      if (p.totalBooks != null) v.total = p.totalBooks;
      if (p.currentTitle) v.title = p.currentTitle;
    }
    if (m.type === 'job_complete') {
      const r = p.result ?? {};
      Object.assign(v, { status: 'complete', progress: 1, success: r.successCount, failure: r.failureCount, total: r.totalBooks ?? v.total, text: 'Complete' });
    }
    if (m.type === 'error') Object.assign(v, { status: 'failed', text: `${p.error?.code}: ${p.error?.message}` });
  }
  if (v.status === 'running') {
    job.samples ??= { at: performance.now(), processed: v.processed };
  }
  store.put(job.id, { ...(store.get(job.id) ?? {}), log: job.rec.log, snap: job.rec.snap, view: v });
  const pct = Math.floor(v.progress * 10);
  if (pct !== job.lastPct || m.type !== 'job_progress') {
    job.lastPct = pct;
    announce(`${$('.job-title', job.el).textContent}: ${Math.round(v.progress * 100)}%, ${v.text}`);
  }
  schedule(job);
}

function onStatus(job, s) {
  job.conn = s.state;
  const conn = $('.conn', job.el);
  const retry = $('.retry', job.el);
  const texts = {
    reconnecting: () => `Connection lost: reconnecting (attempt ${s.attempt} of ${s.of}, in ${(s.delayMs / 1000).toFixed(1)} s)…`,
    resyncing: () => 'Reconnecting failed: asking the server for the job state…',
    gave_up: () => `Gave up reconnecting: ${s.reason}.`,
    failed: () => ({ job_gone: 'This job no longer exists on the server.', token_expired: 'The job\'s token has expired.', unauthorized: 'The server refused this job\'s token.' })[s.reason] ?? s.reason,
  };
  conn.hidden = !texts[s.state];
  conn.textContent = texts[s.state]?.() ?? '';
  retry.hidden = s.state !== 'gave_up' && s.state !== 'reconnecting';
  if (s.state === 'reconnecting' && s.attempt === 1) announce(`${$('.job-title', job.el).textContent}: connection lost, reconnecting`);
  if (s.state === 'gave_up') announce(`${$('.job-title', job.el).textContent}: gave up reconnecting`);
  if (s.state === 'done' || s.state === 'failed') {
    job.ended = true;
    if (s.state === 'failed' && job.rec.view.status !== 'complete') job.rec.view.status = 'failed';
    if (job.rec.view.status === 'complete') loadResults(job);
  }
  schedule(job);
  refreshState();
}

// One render per frame per job, however fast the events come.
const dirty = new Set();
function schedule(job) {
  if (dirty.size === 0) requestAnimationFrame(() => { for (const j of dirty) render(j); dirty.clear(); });
  dirty.add(job);
}

const fmt = (n) => (n ?? 0).toLocaleString('en');

function eta(job) {
  const v = job.rec.view;
  const s = job.samples;
  if (!s || v.status !== 'running' || !v.total) return '';
  const secs = (performance.now() - s.at) / 1000;
  const rate = (v.processed - s.processed) / secs;
  if (secs < 1 || rate <= 0) return 'estimating time left…';
  const left = Math.max(0, (v.total - v.processed) / rate);
  return left < 60 ? `about ${Math.ceil(left)} s left` : `about ${Math.ceil(left / 60)} min left`;
}

function render(job) {
  const v = job.rec.view;
  const el = job.el;
  el.dataset.status = v.status;
  const bar = /** @type {HTMLProgressElement} */ ($('progress', el));
  bar.value = v.progress ?? 0;
  bar.setAttribute('aria-valuetext', `${Math.round((v.progress ?? 0) * 100)}%`);
  $('.badge', el).textContent = v.status;
  $('.pct', el).textContent = `${Math.round((v.progress ?? 0) * 100)}%`;
  // Progress events carry no ok/failed counts: shown once a snapshot or the end gives them.
  const known = v.status !== 'running' || v.success > 0 || v.failure > 0;
  // A scan counts books: read of found, matched to a known book or not.
  const [done, ok, bad] = job.rec.pipeline === 'ai_scan' ? ['books read', 'matched', 'not matched'] : ['processed', 'ok', 'failed'];
  $('.counts', el).textContent = `${fmt(v.processed)} of ${fmt(v.total)} ${done}${known ? ` · ${fmt(v.success)} ${ok} · ${fmt(v.failure)} ${bad}` : ''}`;
  $('.eta', el).textContent = eta(job);
  $('.current', el).textContent = v.title && v.status === 'running' ? `${v.text} — ${v.title}` : v.text;
}

async function loadResults(job) {
  try {
    job.results = await fetchResults({ jobId: job.id, token: job.follower.token });
  } catch (e) {
    $('.current', job.el).textContent = `Results unavailable: ${e.code}: ${e.message}`;
    return;
  }
  const box = $('.results', job.el);
  box.hidden = false;
  const d = job.results;
  const tables = $('.tables', box);
  tables.replaceChildren();
  const cols = COLUMNS[d.pipeline] ?? COLUMNS.csv_import;
  const books = d.pipeline === 'ai_scan' ? d.books.filter((b) => !b.suggestion) : d.books;
  const guesses = d.pipeline === 'ai_scan' ? d.books.filter((b) => b.suggestion) : [];
  tables.append(table(d.pipeline === 'ai_scan' ? 'Detected books' : d.pipeline === 'batch_enrichment' ? 'Enriched books' : 'Imported books', cols, books));
  if (guesses.length) tables.append(table('Other text read (suggestions)', cols, guesses));
  if (d.duplicates?.length) tables.append(table('Duplicates', DUP_COLUMNS, d.duplicates));
  if (d.errors?.length) tables.append(table(d.pipeline === 'ai_scan' ? 'Photos not read' : 'Failed rows', ERR_COLUMNS, d.errors));
  $('.summary', box).textContent = d.pipeline === 'ai_scan'
    ? `${fmt(books.length)} books found, ${fmt(guesses.length)} suggestions, ${fmt(d.errors?.length)} photos not read`
    : `${fmt(books.length)} books, ${fmt(d.duplicates?.length)} duplicates, ${fmt(d.errors?.length)} failed`;
  const enrich = $('.enrich', box);
  enrich.hidden = !(d.pipeline !== 'batch_enrichment' && d.books.some((b) => b.workId));
  announce(`${$('.job-title', job.el).textContent}: complete, ${$('.summary', box).textContent}`);
}

const pct = (x) => (x == null ? '' : `${Math.round(x * 100)}%`);
const COLUMNS = {
  csv_import: [['Row', (b) => b.row], ['Title', (b) => b.title], ['Author', (b) => b.author], ['ISBN-13', (b) => b.isbn13], ['Shelf', (b) => b.status]],
  ai_scan: [['Title', (b) => b.title], ['Author', (b) => b.author], ['Confidence', (b) => pct(b.confidence)], ['Photo', (b) => b.photo], ['Match', (b) => (b.suggestion ? 'suggestion' : b.workId ? 'in your library' : 'recognised')]],
  batch_enrichment: [['Title', (b) => b.metadata?.title ?? b.query?.title], ['Authors', (b) => b.metadata?.authors?.join(', ')], ['ISBN-13', (b) => b.metadata?.isbn13 ?? b.query?.isbn], ['Publisher', (b) => b.metadata?.publisher], ['Year', (b) => b.metadata?.year], ['Pages', (b) => b.metadata?.pages], ['Source', (b) => b.provider]],
};
const DUP_COLUMNS = [['Row', (b) => b.row], ['Title', (b) => b.title], ['Same book as row', (b) => b.duplicateOfRow]];
const ERR_COLUMNS = [['Row', (e) => e.row], ['Reason', (e) => e.message]];

function table(caption, cols, rows) {
  const t = document.createElement('table');
  const shown = rows.slice(0, TABLE_ROWS);
  const cap = t.createCaption();
  cap.textContent = rows.length > shown.length ? `${caption} (first ${TABLE_ROWS} of ${fmt(rows.length)}; download for all)` : `${caption} (${fmt(rows.length)})`;
  const head = t.createTHead().insertRow();
  for (const [name] of cols) { const th = document.createElement('th'); th.scope = 'col'; th.textContent = name; head.append(th); }
  const body = t.createTBody();
  for (const r of shown) { const tr = body.insertRow(); for (const [, get] of cols) tr.insertCell().textContent = String(get(r) ?? ''); }
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  wrap.tabIndex = 0;
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', caption);
  wrap.append(t);
  return wrap;
}

function csvOf(items) {
  const cell = (x) => {
    const s = x == null ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const flat = items.map((i) => ({ ...Object.fromEntries(Object.entries(i).filter(([k]) => k !== 'metadata' && k !== 'query')), ...(i.query ? { query: i.query.title } : {}), ...(i.metadata ?? {}) }));
  const keys = [...new Set(flat.flatMap((o) => Object.keys(o)))];
  return [keys.join(','), ...flat.map((o) => keys.map((k) => cell(o[k])).join(','))].join('\r\n') + '\r\n';
}

function download(job, kind) {
  const d = job.results;
  if (!d) return;
  const blob = kind === 'json'
    ? new Blob([JSON.stringify(d, null, 2)], { type: 'application/json' })
    : new Blob([csvOf(d.books)], { type: 'text/csv' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `bookstrack-${d.pipeline}-${job.id}.${kind}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

/** The tokens of this tab's imports, newest first, as many as the server reads. */
function importTokens() {
  const imports = [...jobs.values()].filter((j) => j.rec.pipeline === 'csv_import');
  return imports.reverse().slice(0, MAX_PRESENTED_TOKENS).map((j) => j.follower?.token ?? j.rec.token);
}

function enrichImported(job) {
  const workIds = [...new Set(job.results.books.map((b) => b.workId).filter(Boolean))];
  const btn = /** @type {HTMLButtonElement} */ ($('.enrich', job.el));
  btn.disabled = true;
  start('/api/enrichment/start', { workIds }, { pipeline: 'batch_enrichment', name: `${fmt(workIds.length)} books from ${job.rec.name}` },
    [job.follower?.token ?? job.rec.token])
    .catch((e) => { btn.disabled = false; $('.summary', job.el).textContent = `Enrichment not started: ${e.code}: ${e.message}`; });
}

// Network back, or the tab visible again: retry at once rather than wait out a backoff.
const retryAll = () => { for (const j of jobs.values()) j.follower?.retryNow(); };
window.addEventListener('online', retryAll);
document.addEventListener('visibilitychange', () => { if (!document.hidden) retryAll(); });
$('#upload-form').addEventListener('submit', onUpload);
$('#isbn-form').addEventListener('submit', onIsbns);

// Jobs of this tab from before a reload, oldest first (each is prepended).
const saved = store.ids().map((id) => [id, store.get(id)]).filter(([, r]) => r?.token && r.view);
saved.sort((a, b) => (a[1].created ?? 0) - (b[1].created ?? 0));
for (const [id, rec] of saved) addJob({ jobId: id }, null, rec);
refreshState();
