// Audit explorer: the most recent audit events the host keeps
// (GET /audit), filtered by user, backend, capability, outcome and time,
// each expandable to its full JSON; a live tail (GET /audit/stream with
// the same filters) adds new events at the top.
import { api, stream, h } from '../lib.js';

const FIELDS = ['user', 'backend', 'capability', 'status', 'since', 'limit'];

export async function render(root, { signal, setLive }) {
  const inputs = {
    user: h('input', { name: 'user', placeholder: 'user (glob ok)' }),
    backend: h('input', { name: 'backend', placeholder: 'backend' }),
    capability: h('input', { name: 'capability', placeholder: 'capability, e.g. demo_*' }),
    status: h('select', { name: 'status' }, ['', 'success', 'error', 'denied', 'policy_denied', 'rate_limited', 'timeout'].map((v) => h('option', { value: v }, v || 'any outcome'))),
    since: h('input', { name: 'since', placeholder: 'since: 15m or RFC 3339' }),
    limit: h('input', { name: 'limit', placeholder: 'limit (100)', size: 8 }),
  };
  const tail = h('input', { type: 'checkbox', id: 'tail' });
  const message = h('p', { class: 'error-text', id: 'audit-error', role: 'alert' });
  const summary = h('span', { class: 'muted', id: 'audit-count' });
  const head = h('thead', {}, h('tr', {}, ['time', 'type', 'user', 'backend', 'capability', 'outcome', 'latency'].map((x) => h('th', {}, x))));
  const rows = h('table', { class: 'audit', id: 'audit-rows' }, head); // one tbody per event
  let tailAbort = null;

  const query = (withLimit) => {
    const q = new URLSearchParams();
    for (const f of FIELDS) {
      const v = inputs[f].value.trim();
      if (v && (withLimit || f !== 'limit')) q.set(f, v);
    }
    const s = q.toString();
    return s ? '?' + s : '';
  };

  const load = async () => {
    message.textContent = '';
    try {
      const r = await api('/audit' + query(true), { signal });
      rows.replaceChildren(head, ...r.events.map(row));
      summary.textContent = `${r.count} events (the host keeps the last ${r.buffer})`;
    } catch (e) {
      if (e.status === 400) { message.textContent = e.message; rows.replaceChildren(head); summary.textContent = ''; return; }
      throw e;
    }
    restartTail();
  };

  const restartTail = () => {
    if (tailAbort) tailAbort.abort();
    tailAbort = null;
    setLive(false);
    if (!tail.checked) return;
    tailAbort = new AbortController();
    signal.addEventListener('abort', () => tailAbort?.abort(), { once: true });
    stream('/audit/stream' + query(false), { signal: tailAbort.signal, onState: setLive, onEvent: (name, e) => {
      if (name !== 'audit') return;
      head.after(row(e));
      const max = Number(inputs.limit.value) || 100;
      while (rows.children.length > max + 1) rows.lastChild.remove();
      summary.textContent = `${rows.children.length - 1} events, live`;
    } });
  };

  const form = h('form', { class: 'filters', id: 'audit-filters', onsubmit: (ev) => { ev.preventDefault(); load(); } },
    Object.values(inputs), h('button', { type: 'submit' }, 'Apply'),
    h('label', { class: 'tail' }, tail, ' live tail'));
  tail.addEventListener('change', restartTail);

  root.replaceChildren(h('h1', {}, 'Audit explorer'), form, message, summary, rows);
  await load();
}

// row is one event: a summary line that expands to a second row with the
// event's full JSON.
function row(e) {
  const src = e.source || {}, tgt = e.target || {}, out = e.outcome || {};
  const outcome = out.status + (out.error_type ? ' · ' + out.error_type : '');
  const detail = h('pre', { class: 'json' }, JSON.stringify(e, null, 2));
  const frag = h('tr', { class: 'event status-' + out.status, 'data-event-id': e.event_id, tabindex: 0 },
    h('td', { class: 'mono' }, (e.timestamp || '').replace('T', ' ').slice(0, 23)),
    h('td', {}, e.event_type),
    h('td', { class: 'user' }, src.user_id || '—'),
    h('td', {}, tgt.backend || '—'),
    h('td', { class: 'mono' }, tgt.capability_name || tgt.method || ''),
    h('td', { class: 'outcome' }, outcome),
    h('td', {}, out.latency_ms != null ? out.latency_ms.toFixed(1) + ' ms' : ''));
  const wrap = h('tr', { class: 'event-detail', hidden: true }, h('td', { colspan: 7 }, detail));
  const toggle = () => { wrap.hidden = !wrap.hidden; frag.classList.toggle('open', !wrap.hidden); };
  frag.addEventListener('click', toggle);
  frag.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') toggle(); });
  // A tbody of its own keeps the two rows together when the tail
  // prepends and trims.
  return h('tbody', { class: 'event-group' }, frag, wrap);
}
