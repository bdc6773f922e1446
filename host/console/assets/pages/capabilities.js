// Capabilities: the aggregated catalogue, searchable, with each entry's
// owning backend and its original name there.
import { api, h, table } from '../lib.js';

export async function render(root, { signal }) {
  const { capabilities } = await api('/capabilities', { signal });
  const search = h('input', { type: 'search', id: 'cap-search', placeholder: 'Search name, backend, original name or description', 'aria-label': 'search' });
  const count = h('span', { class: 'muted', id: 'cap-count' });
  const body = h('div');
  const show = () => {
    const q = search.value.trim().toLowerCase();
    const rows = capabilities.filter((c) => !q || [c.name, c.backend, c.original_name, c.description, c.type].join(' ').toLowerCase().includes(q));
    count.textContent = `${rows.length} of ${capabilities.length}`;
    body.replaceChildren(table(['type', 'exposed name', 'backend', 'original name', 'description'],
      rows.map((c) => h('tr', { class: 'capability' }, h('td', {}, c.type), h('td', { class: 'mono' }, c.name),
        h('td', {}, c.backend), h('td', { class: 'mono' }, c.original_name), h('td', { class: 'muted' }, c.description || '')))));
  };
  search.addEventListener('input', show);
  root.replaceChildren(h('h1', {}, 'Capabilities'), h('div', { class: 'toolbar' }, search, count), body);
  show();
}
