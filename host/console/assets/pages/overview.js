// Overview: gateway status, uptime, version, counts, request and error
// rates (GET /traffic), the audit queues per sink and what became of each
// span exporter's spans (GET /status), refreshed every 5 s.
import { api, h, bars, duration, table, sleep } from '../lib.js';

export async function render(root, { signal, setLive }) {
  for (;;) {
    const [st, tr] = await Promise.all([api('/status', { signal }), api('/traffic', { signal })]);
    if (signal.aborted) return;
    root.replaceChildren(view(st, tr));
    setLive(true);
    await sleep(5000, signal);
    if (signal.aborted) return;
  }
}

function stat(label, value, cls = '') {
  return h('div', { class: 'stat ' + cls }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

function view(st, tr) {
  const hl = st.health;
  const cat = st.catalogue || {};
  const plugins = st.plugins || [];
  const running = plugins.filter((p) => p.phase === 'running').length;
  const queues = st.audit || [];
  const exporters = st.telemetry || [];
  return h('div', {},
    h('h1', {}, 'Overview'),
    h('div', { class: 'stats' },
      stat('status', hl.status, 'status-' + hl.status),
      stat('uptime', duration(hl.uptime_seconds)),
      stat('version', hl.version || 'dev'),
      stat('backends ready', `${hl.backends.healthy} / ${hl.backends.total}`),
      stat('tools', cat.tools), stat('resources', cat.resources + cat.resource_templates), stat('prompts', cat.prompts),
      stat('sessions', st.sessions),
      stat('stateless requests in flight', st.stateless_requests ?? 0),
      stat('plugins running', `${running} / ${plugins.length}`),
      stat('panics recovered', st.panics_recovered, st.panics_recovered ? 'status-degraded' : ''),
    ),
    h('h2', {}, 'Traffic, last 10 minutes'),
    h('div', { class: 'stats' },
      stat('requests / s (last minute)', tr.request_rate.toFixed(2), 'rate-requests'),
      stat('error rate (last minute)', (tr.error_rate * 100).toFixed(1) + ' %', tr.error_rate > 0 ? 'status-degraded rate-errors' : 'rate-errors'),
    ),
    h('div', { class: 'chart' }, bars(tr.buckets), h('div', { class: 'legend' },
      h('span', { class: 'key key-ok' }), ' requests ', h('span', { class: 'key key-err' }), ' errors, per ' + tr.bucket_seconds + ' s')),
    h('h2', {}, 'Audit queues'),
    queues.length
      ? table(['sink', 'connected', 'queue depth', 'delivered', 'dropped', 'failed writes', 'last error'],
        queues.map((q) => h('tr', { class: 'queue' },
          h('td', {}, q.sink + (q.required ? ' (required)' : '')),
          h('td', {}, q.connected ? 'yes' : 'no'),
          h('td', { class: 'depth' }, `${q.queue_depth} / ${q.queue_capacity}`),
          h('td', {}, q.delivered), h('td', {}, q.dropped), h('td', {}, q.failed_writes), h('td', {}, q.last_error || ''))))
      : h('p', { class: 'muted' }, 'Audit is disabled.'),
    h('h2', {}, 'Span exporters'),
    exporters.length
      ? table(['exporter', 'spans exported', 'dropped (queue full)', 'lost (export failed)'],
        exporters.map((e) => h('tr', { class: 'exporter' + (e.spans_dropped || e.spans_lost ? ' status-degraded' : '') },
          h('td', {}, e.exporter), h('td', { class: 'exported' }, e.spans_exported),
          h('td', { class: 'dropped' }, e.spans_dropped), h('td', { class: 'lost' }, e.spans_lost))))
      : h('p', { class: 'muted' }, 'Telemetry is disabled.'),
  );
}
