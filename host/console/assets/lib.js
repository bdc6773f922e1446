// Shared helpers: the token, API calls, server-sent events over fetch,
// DOM building and small charts. No framework: plain ES modules.

const KEY = 'argus.token';
const API = '/manage/v1';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// Unauthorized is thrown for a 401: the token is wrong or gone.
export class Unauthorized extends Error {}

// api calls the management API with the token in the Authorization
// header (never in the URL) and returns the decoded JSON body. A non-2xx
// answer throws an Error carrying the answer's status and body.
export async function api(path, opts = {}) {
  const res = await fetch(API + path, {
    method: opts.method || 'GET',
    headers: { Authorization: 'Bearer ' + token.get(), Accept: 'application/json' },
    signal: opts.signal,
    cache: 'no-store',
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Unauthorized(body.error || 'unauthorized');
  if (!res.ok) {
    const err = new Error(body.error || res.status + ' ' + res.statusText);
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

// stream reads a server-sent-events endpoint through fetch (EventSource
// cannot send an Authorization header) and calls onEvent(name, data) for
// each event. It reconnects after a drop with a growing pause until
// signal aborts; onState(true|false) reports whether it is connected.
export async function stream(path, { signal, onEvent, onState = () => {} }) {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch(API + path, {
        headers: { Authorization: 'Bearer ' + token.get(), Accept: 'text/event-stream' },
        signal, cache: 'no-store',
      });
      if (res.status === 401) throw new Unauthorized('unauthorized');
      if (!res.ok || !res.body) throw new Error('stream: ' + res.status);
      onState(true);
      pause = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) name = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) {
            try { onEvent(name, JSON.parse(data.join('\n'))); } catch (e) { console.warn('bad event', e); }
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof Unauthorized) { window.dispatchEvent(new Event('argus:unauthorized')); return; }
    }
    onState(false);
    await sleep(pause, signal);
    pause = Math.min(pause * 2, 10000);
  }
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// h builds an element: h('div', {class: 'card', onclick: f}, child, ...).
// Children are nodes or strings (text, never HTML).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// sparkline draws values (numbers; bad[i] marks a failed check) as an
// inline SVG line with the failures as red dots.
export function sparkline(values, bad = [], { width = 220, height = 40 } = {}) {
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'spark', role: 'img' });
  if (!values.length) {
    svg.append(s('text', { x: 4, y: height / 2 + 4, class: 'spark-empty' }));
    svg.lastChild.textContent = 'no checks yet';
    return svg;
  }
  const maxV = Math.max(...values, 1e-9);
  const step = values.length > 1 ? (width - 6) / (values.length - 1) : 0;
  const pts = values.map((v, i) => [3 + i * step, height - 3 - (v / maxV) * (height - 6)]);
  svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: 'spark-line', fill: 'none' }));
  pts.forEach((p, i) => {
    if (bad[i]) svg.append(s('circle', { cx: p[0], cy: p[1], r: 2.5, class: 'spark-bad' }));
  });
  const last = pts[pts.length - 1];
  svg.append(s('circle', { cx: last[0], cy: last[1], r: 2.5, class: 'spark-last' }));
  return svg;
}

// bars draws buckets {requests, errors} as an inline SVG bar chart.
export function bars(buckets, { width = 600, height = 80 } = {}) {
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', height, class: 'bars', preserveAspectRatio: 'none', role: 'img' });
  const maxV = Math.max(1, ...buckets.map((b) => b.requests));
  const w = width / Math.max(1, buckets.length);
  buckets.forEach((b, i) => {
    const hr = (b.requests / maxV) * (height - 2);
    const he = (b.errors / maxV) * (height - 2);
    if (hr > 0) svg.append(s('rect', { x: i * w + 1, y: height - hr, width: Math.max(1, w - 2), height: hr, class: 'bar-ok' }));
    if (he > 0) svg.append(s('rect', { x: i * w + 1, y: height - he, width: Math.max(1, w - 2), height: he, class: 'bar-err' }));
  });
  return svg;
}

export function ago(t) {
  if (!t) return 'never';
  const sec = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (sec < 60) return Math.max(0, sec) + ' s ago';
  if (sec < 3600) return Math.round(sec / 60) + ' min ago';
  return Math.round(sec / 3600) + ' h ago';
}

export function duration(seconds) {
  const d = Math.floor(seconds / 86400), hr = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return `${m}m ${Math.floor(seconds % 60)}s`;
}

// phaseClass maps a backend or plugin phase to its colour class.
export function phaseClass(phase) {
  return 'phase phase-' + String(phase || 'unknown').toLowerCase();
}

// confirmButton is a button that asks for confirmation inline (no
// blocking dialog): a first click shows "Confirm" and "Cancel".
export function confirmButton(label, question, action) {
  const wrap = h('span', { class: 'confirm' });
  const main = h('button', { type: 'button', onclick: () => { wrap.replaceChildren(q, yes, no); } }, label);
  const q = h('span', { class: 'question' }, question);
  const yes = h('button', { type: 'button', class: 'danger', onclick: async () => { wrap.replaceChildren(main); await action(); } }, 'Confirm');
  const no = h('button', { type: 'button', class: 'quiet', onclick: () => wrap.replaceChildren(main) }, 'Cancel');
  wrap.append(main);
  return wrap;
}

export function table(headers, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}
