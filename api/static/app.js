// rollcall status page. Plain JavaScript, no dependencies, no build step.
//
// Data flow: /api/v1/groups and /api/v1/aggregates/latest on load, the last
// N windows of each series from /api/v1/aggregates, then every new window
// and revision from /api/v1/aggregates/stream (Server-Sent Events, read
// with fetch so that a bearer token can go along). Devices and pipeline
// health are polled. Everything that came from devices (names, groups) is
// put in the page as text, never as HTML.
'use strict';

const params = new URLSearchParams(location.search);
// Windows per chart: ?windows=N (default 30).
const WINDOWS = clamp(parseInt(params.get('windows') || '30', 10) || 30, 5, 360);
// Series charted, at most: a gateway may hold 1000.
const MAX_CHARTS = 48;
// Device rows shown, at most.
const MAX_DEVICE_ROWS = 500;
const POLL_MS = 5000;
const STATS = ['sum', 'mean', 'min', 'max', 'count'];
// Device states in the order the table lists them: trouble first.
const STATE_ORDER = ['replaying', 'silent', 'offline', 'late', 'delayed', 'never_seen', 'live', 'retired'];
const ATTENTION = ['replaying', 'silent', 'offline', 'late', 'delayed', 'never_seen'];
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  token: sessionStorage.getItem('rollcall-token') || '',
  lastEventId: '',
  streaming: false,
  groups: [],          // /api/v1/groups
  series: new Map(),   // "group\u0000metric" → {group, metric, windows: Map(startMs → aggregate)}
  dirty: new Set(),    // series keys to redraw
  pipelinePrev: null,  // previous /api/v1/pipeline answer, for rates
  loaded: false,
};

function clamp(x, lo, hi) { return Math.min(Math.max(x, lo), hi); }

// el builds an element: el('td', {class: 'n'}, 'text', child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

// fmt formats a number for people: null (unknown, unbounded) is a dash.
function fmt(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : 3;
  return n.toLocaleString('en-US', {maximumFractionDigits: digits});
}

function pad(n) { return String(n).padStart(2, '0'); }

// hms is a time of day in UTC.
function hms(t) {
  const d = new Date(t);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

function ago(t) {
  if (!t) return 'never';
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function duration(s) {
  if (s === null || s === undefined) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${fmt(s)} s`;
  return `${fmt(s / 60)} min`;
}

function showError(msg) {
  const e = document.getElementById('error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

class AuthError extends Error {}

// api fetches JSON from the API, with the token when there is one.
async function api(path) {
  const headers = {Accept: 'application/json'};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const resp = await fetch(path, {headers, cache: 'no-store'});
  if (resp.status === 401) throw new AuthError('the API needs a token');
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${body.code || ''} ${body.error || ''}`.trim());
  return body;
}

function needToken() {
  document.getElementById('auth').hidden = false;
  document.getElementById('token').focus();
}

document.getElementById('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = document.getElementById('token').value.trim();
  sessionStorage.setItem('rollcall-token', state.token);
  document.getElementById('auth').hidden = true;
  load();
});

// ---- aggregates ----

const key = (group, metric) => `${group}\u0000${metric}`;

// windowMs is the distance between a series' window starts: the window
// size, or the step with hopping windows (window.step: windows overlap and
// start every step), the smallest gap between the starts held.
function windowMs(s) {
  let size = 0;
  for (const a of s.windows.values()) {
    size = new Date(a.window.end) - new Date(a.window.start);
    break;
  }
  let step = size > 0 ? size : 10000;
  const starts = [...s.windows.keys()].sort((x, y) => x - y);
  for (let i = 1; i < starts.length; i++) step = Math.min(step, starts[i] - starts[i - 1]);
  return step;
}

// upsert keeps the latest revision of each window, and the newest WINDOWS
// windows of the series.
function upsert(a) {
  const k = key(a.group, a.metric);
  let s = state.series.get(k);
  if (!s) {
    if (state.series.size >= MAX_CHARTS) return;
    s = {group: a.group, metric: a.metric, windows: new Map()};
    state.series.set(k, s);
  }
  const start = new Date(a.window.start).getTime();
  const old = s.windows.get(start);
  if (old && old.revision > a.revision) return;
  s.windows.set(start, a);
  const starts = [...s.windows.keys()].sort((x, y) => x - y);
  const newest = starts[starts.length - 1];
  const w = windowMs(s);
  for (const t of starts) {
    if (t <= newest - WINDOWS * w) s.windows.delete(t);
  }
  state.dirty.add(k);
}

function newestOf(s) {
  let best = null;
  for (const a of s.windows.values()) {
    if (!best || new Date(a.window.start) > new Date(best.window.start)) best = a;
  }
  return best;
}

// statFor is the statistic a series shows: the user's choice, else the
// fleet file's (metric_stats of /api/v1/groups), else sum.
function statFor(group, metric) {
  const chosen = localStorage.getItem(`rollcall-stat:${group}/${metric}`);
  if (STATS.includes(chosen)) return chosen;
  const g = state.groups.find((x) => x.name === group);
  const fleet = g && g.metric_stats && g.metric_stats[metric];
  return STATS.includes(fleet) ? fleet : 'sum';
}

function statOf(a, stat) {
  const s = a.stats[stat] || {};
  if (stat === 'count') return {value: s.value, lower: s.value, upper: s.value};
  return s;
}

// chart draws the last WINDOWS windows of a series: the estimate as a line,
// [lower, upper] as a band, every window without an aggregate as a hatched
// gap, and a dot per window in its quality's colour.
function chart(s, stat) {
  const W = 600, H = 170, L = 64, R = 8, T = 10, B = 24;
  const w = windowMs(s);
  const newest = newestOf(s);
  const last = new Date(newest.window.start).getTime();
  // The last WINDOWS windows, or fewer when the history is shorter: a
  // window before the oldest one known is not missing, it is before the
  // start. Between known windows, an absent one is a gap.
  const oldest = Math.min(...s.windows.keys());
  const n = clamp(Math.round((last - oldest) / w) + 1, 1, WINDOWS);
  const first = last - (n - 1) * w;
  // A fixed scale, newest at the right edge.
  const slot = (W - L - R) / WINDOWS;
  const x0 = L + (WINDOWS - n) * slot;
  const slots = [];
  for (let i = 0; i < n; i++) {
    const a = s.windows.get(first + i * w);
    slots.push(a ? {a, v: statOf(a, stat)} : null);
  }
  // The value axis covers every known number.
  let lo = Infinity, hi = -Infinity;
  for (const x of slots) {
    if (!x) continue;
    for (const n of [x.v.value, x.v.lower, x.v.upper]) {
      if (Number.isFinite(n)) { lo = Math.min(lo, n); hi = Math.max(hi, n); }
    }
  }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const padY = (hi - lo) * 0.08;
  lo -= padY; hi += padY;
  const x = (i) => x0 + (i + 0.5) * slot;
  const y = (n) => T + (H - T - B) * (1 - (clamp(n, lo, hi) - lo) / (hi - lo));
  // Unbounded (null) bounds reach the edge of the chart.
  const yLower = (v) => (Number.isFinite(v.lower) ? y(v.lower) : H - B);
  const yUpper = (v) => (Number.isFinite(v.upper) ? y(v.upper) : T);

  const g = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `${s.group} ${s.metric} ${stat}, last ${n} windows`,
    'data-windows': slots.filter(Boolean).length, 'data-gaps': slots.filter((z) => !z).length});
  // Axes: three value ticks, the first and last window's start.
  for (const n of [lo + padY, (lo + hi) / 2, hi - padY]) {
    g.append(svg('line', {x1: L, x2: W - R, y1: y(n), y2: y(n), class: 'grid'}));
    g.append(svg('text', {x: L - 4, y: y(n) + 5, class: 'tick', 'text-anchor': 'end'}, fmt(n)));
  }
  g.append(svg('text', {x: x0, y: H - 6, class: 'tick', 'text-anchor': n < WINDOWS / 4 ? 'end' : 'start'}, hms(first)));
  g.append(svg('text', {x: W - R, y: H - 6, class: 'tick', 'text-anchor': 'end'}, n > 1 ? hms(last) : ''));
  // Gaps.
  slots.forEach((z, i) => {
    if (z) return;
    const r = svg('rect', {x: x0 + i * slot, y: T, width: slot, height: H - T - B, class: 'gap'});
    r.append(svg('title', {}, `${hms(first + i * w)}: no aggregate`));
    g.append(r);
  });
  // Band and line, broken at gaps and unknown values.
  let band = [], line = '';
  const flush = () => {
    if (band.length) {
      const up = band.map((p) => `${p.x},${p.u}`);
      const down = band.slice().reverse().map((p) => `${p.x},${p.l}`);
      g.append(svg('polygon', {points: up.concat(down).join(' '), class: 'band'}));
    }
    band = [];
  };
  const known = (z) => z && [z.v.lower, z.v.upper, z.v.value].some(Number.isFinite);
  let pen = false;
  slots.forEach((z, i) => {
    if (!known(z)) {
      flush();
      pen = false;
      return;
    }
    // The band reaches a little past the first and last window of a run,
    // so that a lone window shows too.
    if (!band.length) band.push({x: x(i) - slot * 0.35, u: yUpper(z.v), l: yLower(z.v)});
    band.push({x: x(i), u: yUpper(z.v), l: yLower(z.v)});
    if (!known(slots[i + 1])) band.push({x: x(i) + slot * 0.35, u: yUpper(z.v), l: yLower(z.v)});
    if (Number.isFinite(z.v.value)) {
      line += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(z.v.value).toFixed(1)}`;
      pen = true;
    } else {
      pen = false;
    }
  });
  flush();
  g.append(svg('path', {d: line, class: 'value'}));
  slots.forEach((z, i) => {
    if (!z || !Number.isFinite(z.v.value)) return;
    const a = z.a;
    const c = svg('circle', {cx: x(i), cy: y(z.v.value), r: 2.6, class: `dot q-${a.quality}`});
    c.append(svg('title', {}, `${hms(a.window.start)}–${hms(a.window.end)} UTC: ${fmt(z.v.value)} ` +
      `[${fmt(z.v.lower)}, ${fmt(z.v.upper)}], ${a.coverage.reported}/${a.coverage.expected} reported` +
      `${a.coverage.partial ? ` (${a.coverage.partial} partial)` : ''}, ` +
      `${a.quality}, revision ${a.revision}${a.final ? ' (final)' : ''}`));
    g.append(c);
  });
  return g;
}

function seriesCard(s) {
  const stat = statFor(s.group, s.metric);
  const a = newestOf(s);
  const v = statOf(a, stat);
  const select = el('select', {'aria-label': 'statistic'},
    STATS.map((st) => el('option', {value: st, selected: st === stat}, st)));
  select.addEventListener('change', () => {
    localStorage.setItem(`rollcall-stat:${s.group}/${s.metric}`, select.value);
    state.dirty.add(key(s.group, s.metric));
    redraw();
  });
  const missing = a.coverage.missing || [];
  return el('article', {class: 'card series', 'data-group': s.group, 'data-metric': s.metric},
    el('h3', {}, `${s.group} · ${s.metric} `, select),
    el('p', {class: 'headline'},
      el('strong', {class: 'value'}, fmt(v.value)),
      stat === 'count' ? '' : el('span', {class: 'bounds'}, ` [${fmt(v.lower)}, ${fmt(v.upper)}]`),
      ' ', el('span', {class: 'coverage'}, `${a.coverage.reported}/${a.coverage.expected}` +
        (a.coverage.partial ? ` (${a.coverage.partial} partial)` : '')),
      ' ', el('span', {class: `badge q-${a.quality}`}, a.quality)),
    el('p', {class: 'muted small'},
      `${hms(a.window.start)}–${hms(a.window.end)} UTC · revision ${a.revision}${a.final ? ', final' : ', provisional'}`,
      a.flags && a.flags.length ? ` · ${a.flags.join(', ')}` : '',
      missing.length ? ` · missing: ${missing.map((m) => `${m.device} (${m.state}${m.age_s != null ? `, ${Math.round(m.age_s)} s` : ''})`).join(', ')}` : '',
      a.coverage.missing_unlisted ? ` and ${a.coverage.missing_unlisted} more` : ''),
    chart(s, stat));
}

function drawCharts() {
  const box = document.getElementById('charts');
  const keys = [...state.series.keys()].sort();
  if (!keys.length) {
    box.replaceChildren(el('p', {class: 'muted'}, 'No windows yet: the first ones close a window size after the first readings.'));
    return;
  }
  if (!box.querySelector('article')) box.replaceChildren();
  const existing = new Map([...box.querySelectorAll('article.series')].map((n) => [key(n.dataset.group, n.dataset.metric), n]));
  let prev = null;
  for (const k of keys) {
    let node = existing.get(k);
    if (!node || state.dirty.has(k)) {
      const fresh = seriesCard(state.series.get(k));
      if (node) node.replaceWith(fresh); else if (prev) prev.after(fresh); else box.prepend(fresh);
      node = fresh;
    }
    prev = node;
  }
  state.dirty.clear();
}

// drawGroups shows each group's roster and the coverage of its newest
// window per metric (from the live series when charted).
function drawGroups() {
  const box = document.getElementById('groups');
  if (!state.groups.length) {
    box.replaceChildren(el('p', {class: 'muted'}, 'No groups yet.'));
    return;
  }
  box.replaceChildren(...state.groups.map((g) => {
    const rows = g.metrics.map((m) => {
      const s = state.series.get(key(g.name, m));
      const a = s && newestOf(s);
      const c = a ? {expected: a.coverage.expected, reported: a.coverage.reported, ratio: a.coverage.ratio,
        quality: a.quality, window_start: a.window.start} : g.coverage[m];
      if (!c) return el('li', {}, `${m}: no window yet`);
      return el('li', {},
        el('span', {class: 'metric'}, m), ' ',
        el('strong', {class: 'coverage'}, `${c.reported}/${c.expected}`), ' reporting ',
        el('span', {class: `badge q-${c.quality}`}, c.quality),
        el('span', {class: 'muted small'}, ` window ${hms(c.window_start)}`),
        el('meter', {min: 0, max: 1, low: 0.5, high: 0.999, optimum: 1, value: c.ratio || 0}));
    });
    const states = Object.entries(g.states || {}).sort((a, b) => STATE_ORDER.indexOf(a[0]) - STATE_ORDER.indexOf(b[0]));
    return el('article', {class: 'card group', 'data-group': g.name},
      el('h3', {}, g.name),
      el('ul', {class: 'plain'}, rows.length ? rows : el('li', {class: 'muted'}, 'no metrics yet')),
      el('p', {class: 'small'}, `${g.expected} on the roster: `,
        states.map(([st, n], i) => [i ? ' · ' : '', el('span', {class: `state s-${st}`}, `${n} ${st}`)]),
        g.watermark ? el('span', {class: 'muted'}, ` · watermark ${hms(g.watermark)}`) : ''));
  }));
}

let redrawQueued = false;
function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    drawCharts();
    drawGroups();
    document.getElementById('updated').textContent = `updated ${hms(Date.now())} UTC`;
  });
}

// load (re)reads the groups, the newest window of every series and their
// recent history.
async function load() {
  try {
    const [groups, latest] = await Promise.all([api('/api/v1/groups'), api('/api/v1/aggregates/latest')]);
    state.groups = groups.groups;
    if (!state.lastEventId) state.lastEventId = latest.last_event_id;
    const wanted = latest.aggregates.slice(0, MAX_CHARTS);
    const histories = await Promise.all(wanted.map((a) => {
      const q = new URLSearchParams({group: a.group, metric: a.metric, limit: String(WINDOWS)});
      return api(`/api/v1/aggregates?${q}`).catch(() => ({aggregates: [a]}));
    }));
    for (const h of histories) for (const a of h.aggregates) upsert(a);
    for (const a of latest.aggregates) upsert(a);
    showError('');
    state.loaded = true;
    document.body.dataset.loaded = 'true';
    redraw();
    if (!state.streaming) stream();
  } catch (err) {
    if (err instanceof AuthError) needToken();
    else showError(`cannot load: ${err.message}`);
  }
}

// ---- the stream ----

function setLive(on, text) {
  const b = document.getElementById('live');
  b.textContent = text || (on ? 'live' : 'reconnecting');
  b.className = `badge ${on ? 'on' : 'off'}`;
}

// handleEvent takes one SSE event block.
function handleEvent(block) {
  let event = 'message', data = '', id = null;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data += (data ? '\n' : '') + value;
    else if (field === 'id') id = value;
  }
  if (id !== null) state.lastEventId = id;
  if (event === 'aggregate' && data) {
    upsert(JSON.parse(data));
    redraw();
  } else if (event === 'reset') {
    // Missed aggregates (slow, or the server restarted): read them again.
    load();
  }
}

async function stream() {
  state.streaming = true;
  for (;;) {
    try {
      const headers = {Accept: 'text/event-stream'};
      if (state.token) headers.Authorization = `Bearer ${state.token}`;
      if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
      const resp = await fetch('/api/v1/aggregates/stream', {headers, cache: 'no-store'});
      if (resp.status === 401) {
        needToken();
        setLive(false, 'needs token');
      } else if (resp.ok && resp.body) {
        setLive(true);
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            handleEvent(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } else {
        const body = await resp.json().catch(() => ({}));
        setLive(false, `stream: ${resp.status} ${body.code || ''}`);
      }
    } catch (err) {
      // Network error: retry below.
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- devices ----

async function loadDevices() {
  const all = document.getElementById('all-devices').checked;
  const lists = all ? [api('/api/v1/devices')] : ATTENTION.map((st) => api(`/api/v1/devices?state=${st}`));
  const answers = await Promise.all(lists);
  const byId = new Map();
  for (const ans of answers) for (const d of ans.devices) byId.set(d.id, d);
  const rank = (d) => (d.replaying ? 0 : 1 + STATE_ORDER.indexOf(d.state));
  const devices = [...byId.values()].sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
  const body = document.querySelector('#devices tbody');
  body.replaceChildren(...devices.slice(0, MAX_DEVICE_ROWS).map((d) => {
    const rejected = Object.values(d.counts.rejected || {}).reduce((x, y) => x + y, 0);
    const reasons = Object.entries(d.counts.rejected || {}).map(([r, n]) => `${r}: ${n}`).join(', ');
    return el('tr', {class: `s-${d.state}${d.replaying ? ' replaying' : ''}`},
      el('td', {}, d.id), el('td', {}, d.group),
      el('td', {}, el('span', {class: `state s-${d.state}`}, d.state), d.replaying ? el('span', {class: 'state s-replaying'}, ' replaying') : ''),
      el('td', {}, ago(d.last_seen)),
      el('td', {class: 'n'}, duration(d.interval_s)),
      el('td', {class: 'n'}, fmt(d.phi)),
      el('td', {class: 'n'}, fmt(d.counts.accepted)),
      el('td', {class: 'n'}, fmt(d.counts.duplicates)),
      el('td', {class: 'n'}, fmt(d.counts.replays)),
      el('td', {class: 'n', title: reasons}, fmt(rejected)));
  }));
  const note = document.getElementById('devices-note');
  if (!devices.length) note.textContent = all ? 'no devices yet' : 'every device is live';
  else if (devices.length > MAX_DEVICE_ROWS) note.textContent = `first ${MAX_DEVICE_ROWS} of ${devices.length}`;
  else note.textContent = `${devices.length} shown`;
  // Counts by state over every group, replaying from its own list.
  const counts = {};
  for (const g of state.groups) for (const [st, n] of Object.entries(g.states || {})) counts[st] = (counts[st] || 0) + n;
  const replaying = devices.filter((d) => d.replaying).length;
  if (replaying) counts.replaying = replaying;
  document.getElementById('device-states').replaceChildren(...Object.entries(counts)
    .sort((a, b) => STATE_ORDER.indexOf(a[0]) - STATE_ORDER.indexOf(b[0]))
    .map(([st, n]) => el('span', {class: `chip state s-${st}`}, `${n} ${st}`)));
}

document.getElementById('all-devices').addEventListener('change', () => loadDevices().catch(() => {}));

// ---- pipeline ----

const labelText = (labels) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(' ');
const seriesKey = (m) => `${m.name}{${labelText(m.labels)}}`;

function drawPipeline(p) {
  const prev = state.pipelinePrev;
  const dt = prev ? (new Date(p.time) - new Date(prev.time)) / 1000 : 0;
  const before = new Map(prev ? prev.metrics.map((m) => [seriesKey(m), m.value]) : []);
  const rate = (m) => (dt > 0 && before.has(seriesKey(m)) ? Math.max(0, (m.value - before.get(seriesKey(m))) / dt) : null);
  const find = (name) => p.metrics.filter((m) => m.name === name);
  const table = (title, rows, cols) => el('article', {class: 'card'}, el('h3', {}, title),
    rows.length ? el('table', {class: 'compact'}, el('thead', {}, el('tr', {}, cols.map((c, i) => el('th', {class: i ? 'n' : ''}, c)))),
      el('tbody', {}, rows)) : el('p', {class: 'muted'}, 'none'));

  const health = el('article', {class: 'card'}, el('h3', {}, 'Health'),
    el('p', {}, el('span', {class: `badge ${p.ready ? 'q-good' : 'q-bad'}`}, p.ready ? 'ready' : 'not ready'),
      p.not_ready ? ` ${p.not_ready}` : ''),
    find('rollcall_ingest_connected').map((m) => el('p', {}, `broker: ${m.value ? 'connected' : 'disconnected'}`)));

  const messages = find('rollcall_messages_total').map((m) =>
    el('tr', {}, el('td', {}, Object.values(m.labels).join(' ') || 'all'), el('td', {class: 'n'}, fmt(rate(m))), el('td', {class: 'n'}, fmt(m.value))));

  const drops = p.metrics.filter((m) => /_(dropped|rejected|evicted|refused|skipped|resets)_total$/.test(m.name) && m.value > 0)
    .map((m) => el('tr', {}, el('td', {}, m.name.replace(/^rollcall_/, ''), ' ', el('span', {class: 'muted'}, labelText(m.labels))),
      el('td', {class: 'n'}, fmt(rate(m))), el('td', {class: 'n'}, fmt(m.value))));

  const caps = new Map(p.metrics.filter((m) => m.name.endsWith('_queue_capacity'))
    .map((m) => [seriesKey({name: m.name.replace(/_capacity$/, '_length'), labels: m.labels}), m.value]));
  const queues = p.metrics.filter((m) => m.name.endsWith('_queue_length')).map((m) =>
    el('tr', {}, el('td', {}, m.name.replace(/^rollcall_/, '').replace(/_queue_length$/, ''), ' ', el('span', {class: 'muted'}, labelText(m.labels))),
      el('td', {class: 'n'}, fmt(m.value)), el('td', {class: 'n'}, caps.has(seriesKey(m)) ? fmt(caps.get(seriesKey(m))) : '–')));

  document.getElementById('pipeline').replaceChildren(health,
    table('Messages', messages, ['outcome', 'per s', 'total']),
    table('Drops and rejections', drops, ['by reason', 'per s', 'total']),
    table('Queues', queues, ['queue', 'length', 'capacity']));
  state.pipelinePrev = p;
}

// ---- polling ----

async function poll() {
  if (state.loaded) {
    try {
      const groups = await api('/api/v1/groups');
      state.groups = groups.groups;
      redraw();
      await loadDevices();
      drawPipeline(await api('/api/v1/pipeline'));
      showError('');
    } catch (err) {
      if (err instanceof AuthError) needToken();
      else showError(`cannot refresh: ${err.message}`);
    }
  }
  setTimeout(poll, POLL_MS);
}

load().then(poll);
