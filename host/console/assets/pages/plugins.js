// Plugins: every plugin instance with its phase, process, restarts, last
// error and executable hash; refreshed every 5 s.
import { api, h, table, phaseClass, ago, sleep } from '../lib.js';

export async function render(root, { signal, setLive }) {
  for (;;) {
    const { plugins } = await api('/plugins', { signal });
    if (signal.aborted) return;
    root.replaceChildren(h('h1', {}, 'Plugins'), plugins.length
      ? table(['instance', 'plugin', 'kind', 'phase', 'pid', 'restarts', 'version', 'last error', 'sha256'],
        plugins.map((p) => h('tr', { class: 'plugin', 'data-instance': p.instance },
          h('td', {}, p.instance),
          h('td', {}, p.plugin + (p.builtin ? ' (built-in)' : '')),
          h('td', {}, p.kind),
          h('td', {}, h('span', { class: phaseClass(p.phase) }, p.phase), h('div', { class: 'muted small' }, ago(p.since))),
          h('td', { class: 'pid' }, p.pid || '—'),
          h('td', {}, p.restarts),
          h('td', {}, p.version),
          h('td', { class: 'error-text' }, p.last_error || ''),
          h('td', { class: 'hash', title: p.path }, p.sha256 ? p.sha256.slice(0, 16) + '…' : '—'))))
      : h('p', { class: 'muted' }, 'No plugin instances.'));
    setLive(true);
    await sleep(5000, signal);
    if (signal.aborted) return;
  }
}
