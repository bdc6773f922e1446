// Backends: one card per backend (phase, conditions, last check, latency
// sparkline, capability counts), updated live from the event stream
// (GET /events/stream) without a reload; reconnect and reload with an
// inline confirmation, and the reload's result shown in place.
import { api, stream, h, sparkline, ago, phaseClass, confirmButton } from '../lib.js';

export async function render(root, { signal, setLive }) {
  const grid = h('div', { class: 'cards', id: 'backend-cards' });
  const result = h('div', { class: 'reload-result', id: 'reload-result' });
  const actions = new Map(); // backend -> its action bar, kept across refreshes
  const notes = new Map(); // backend -> the last action's note

  const refresh = async () => {
    const { backends } = await api('/backends', { signal });
    if (signal.aborted) return;
    grid.replaceChildren(...backends.map((b) => card(b)));
  };

  const card = (b) => {
    if (!actions.has(b.name)) {
      const note = h('span', { class: 'note' });
      notes.set(b.name, note);
      actions.set(b.name, h('div', { class: 'actions' },
        confirmButton('Reconnect', `Drop ${b.name}'s session and connect anew?`, async () => {
          try {
            await api('/reconnect/' + encodeURIComponent(b.name), { method: 'POST', signal });
            note.textContent = 'reconnect requested';
          } catch (e) { note.textContent = 'reconnect failed: ' + e.message; }
        }), note));
    }
    const hist = b.health.history || [];
    const c = b.capabilities;
    return h('article', { class: 'card', 'data-backend': b.name, 'data-phase': b.phase },
      h('header', {}, h('h2', {}, b.name), h('span', { class: phaseClass(b.phase) }, b.phase)),
      h('div', { class: 'meta' }, `${b.type} · ${b.state}` + (b.protocol_version ? ` · ${b.protocol_version}` : '') + ` · ${b.phase} since ${ago(b.since)}`),
      b.error ? h('div', { class: 'error-text' }, b.error) : null,
      h('div', { class: 'row' },
        h('div', {},
          h('div', { class: 'label' }, 'latency (last ' + hist.length + ' checks)'),
          sparkline(hist.map((x) => x.latency_ms), hist.map((x) => x.status !== 'healthy'))),
        h('dl', { class: 'facts' },
          h('dt', {}, 'last check'), h('dd', { class: 'last-check' }, ago(b.health.last_check)),
          h('dt', {}, 'latency'), h('dd', {}, b.health.latency_ms.toFixed(1) + ' ms'),
          h('dt', {}, 'health'), h('dd', {}, b.health.status + (b.health.consecutive_failures ? ` (${b.health.consecutive_failures} failures)` : '')))),
      h('div', { class: 'counts' },
        count('tools', c.tools), count('resources', c.resources), count('templates', c.resource_templates), count('prompts', c.prompts)),
      h('details', { class: 'conditions' }, h('summary', {}, `conditions (${b.conditions.length})`),
        h('ul', {}, b.conditions.map((x) => h('li', { class: x.status ? 'cond-true' : 'cond-false' },
          h('strong', {}, x.type), ` ${x.status} · ${x.reason || ''} · ${x.message || ''} · ${ago(x.last_transition)}`)))),
      actions.get(b.name));
  };

  const reload = confirmButton('Reload configuration', 'Re-read the configuration file and apply it?', async () => {
    result.replaceChildren(h('span', { class: 'muted' }, 'reloading…'));
    try {
      const r = await api('/reload', { method: 'POST', signal });
      const changed = [...(r.added || []).map((x) => '+' + x), ...(r.removed || []).map((x) => '−' + x), ...(r.changed || []).map((x) => '~' + x), ...(r.updated || []).map((x) => x + ' (updated in place)')];
      result.replaceChildren(h('div', {},
        h('div', { class: 'ok' }, 'Applied' + (changed.length ? ': ' + changed.join(', ') : ': nothing changed')),
        (r.restart_required || []).length ? h('div', { class: 'warn' }, 'Restart required for: ' + r.restart_required.join(', ')) : null,
        r.diagnostics ? h('pre', { class: 'diagnostics' }, r.diagnostics) : null));
    } catch (e) {
      result.replaceChildren(h('div', {}, h('div', { class: 'error-text' }, 'Not applied: ' + e.message),
        e.body && e.body.diagnostics ? h('pre', { class: 'diagnostics' }, e.body.diagnostics) : null));
    }
    refresh();
  });

  root.replaceChildren(h('div', { class: 'toolbar' }, h('h1', {}, 'Backends'), reload), result, grid);
  await refresh();
  // Live: every phase, health or reconnect event refreshes the cards
  // (coalesced); a slow timer keeps "last check" and the sparkline fresh.
  let pending = null;
  const soon = () => { pending ??= setTimeout(() => { pending = null; refresh().catch(() => {}); }, 150); };
  stream('/events/stream', { signal, onState: (on) => { setLive(on); if (on) soon(); }, onEvent: soon });
  const timer = setInterval(soon, 5000);
  signal.addEventListener('abort', () => { clearInterval(timer); clearTimeout(pending); });
}

function count(label, n) {
  return h('span', { class: 'count' }, h('b', {}, n), ' ' + label);
}
