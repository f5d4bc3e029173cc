// The inventory pages: minions, one minion, overview, events, keys.

import * as api from './api.js';
import { h, text, table, yesNo, link, enc } from './dom.js';
import { bars, donut } from './charts.js';
import { onLeave, showError } from './app.js';

// Details (masters, last seen, last state run) are one request a minion:
// fetched for the first rows only, a few at a time.
const DETAIL_ROWS = 200;
const DETAIL_PARALLEL = 6;

async function eachLimited(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function lastState(run) {
  if (!run) return '';
  if (run.error) return 'error';
  return `${run.changed} changed, ${run.failed} failed`;
}

export async function minions() {
  const filter = h('input#tgt', { placeholder: 'target, e.g. G@os:Debian and G@role:web', value: sessionStorage.getItem('brine.tgt') || '' });
  const body = h('tbody');
  const count = h('span.muted#minion-count');
  const cols = ['id', 'connected', 'masters', 'last seen', 'os', 'osrelease', 'appcode', 'owner', 'key', 'last highstate'];
  const rowsById = new Map();

  async function load() {
    showError('');
    const tgt = filter.value.trim() || '*';
    sessionStorage.setItem('brine.tgt', filter.value.trim());
    let list;
    try {
      list = await api.get('/minions?tgt_type=compound&tgt=' + enc(tgt));
    } catch (e) {
      showError(e.message);
      return;
    }
    rowsById.clear();
    body.replaceChildren(...list.map((m) => {
      const cells = {
        connected: h('td.connected', yesNo(m.connected)),
        masters: h('td'),
        seen: h('td'),
        state: h('td'),
      };
      const tr = h('tr', { 'data-id': m.id },
        h('td', link('#/minion/' + enc(m.id), m.id)),
        cells.connected, cells.masters, cells.seen,
        h('td', text(m.os)), h('td', text(m.osrelease)), h('td', text(m.appcode)), h('td', text(m.owner)),
        h('td', text(m.key)), cells.state);
      rowsById.set(m.id, cells);
      return tr;
    }));
    count.textContent = `${list.length} minion${list.length === 1 ? '' : 's'}`;
    await eachLimited(list.slice(0, DETAIL_ROWS), DETAIL_PARALLEL, async (m) => {
      try {
        const d = await api.get('/minions/' + enc(m.id));
        const cells = rowsById.get(m.id);
        if (!cells) return;
        cells.masters.textContent = (d.masters || []).join(', ');
        cells.seen.textContent = d.last_seen || '';
        cells.state.textContent = lastState(d.last_state_run);
      } catch {
        // the row still shows what the list had
      }
    });
  }

  // Live presence: the master fires brine/presence/change with the ids
  // that connected (`new`) and disconnected (`lost`).
  const stream = api.events('brine/presence/change', (tag, data) => {
    for (const [ids, up] of [[data.new || [], true], [data.lost || [], false]]) {
      for (const id of ids) {
        const cells = rowsById.get(id);
        if (cells) cells.connected.replaceChildren(yesNo(up));
      }
    }
  });
  stream.ready.catch(() => {});
  onLeave(stream.close);

  const form = h('form.filter', { on: { submit: (ev) => { ev.preventDefault(); load(); } } },
    filter, h('button#tgt-apply', { type: 'submit' }, 'Filter'), count);
  await load();
  return h('section', h('h1', 'Minions'), form,
    h('table#minions', h('thead', h('tr', cols.map((c) => h('th', c)))), body));
}

// A grain value as text (objects as indented JSON).
function grainText(v) {
  if (v == null) return '(none)';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 1);
}

function historyView(versions) {
  if (!versions.length) return h('p.muted', 'No history yet.');
  return h('div.history', versions.map((v) => {
    if (v.first_report) {
      return h('div.version', h('h3', v.time), h('p.muted', `first report: ${v.grains} grains`));
    }
    const rows = Object.entries(v.changes || {}).map(([grain, c]) =>
      h('tr', h('th', grain),
        h('td', h('pre.old', '− ' + grainText(c.old))),
        h('td', h('pre.new', '+ ' + grainText(c.new)))));
    return h('div.version', h('h3', v.time),
      h('table.diff', h('thead', h('tr', h('th', 'grain'), h('th', 'old'), h('th', 'new'))), h('tbody', rows)));
  }));
}

export async function minion(id) {
  const [d, history, jobs] = await Promise.all([
    api.get('/minions/' + enc(id)),
    api.get('/minions/' + enc(id) + '/history?limit=20').catch((e) => ({ error: e.message })),
    api.get('/jobs?limit=20&minion=' + enc(id)).catch((e) => ({ error: e.message })),
  ]);
  const own = Object.entries(d.ownership || {}).filter(([, v]) => v != null);
  const run = d.last_state_run;
  const facts = h('dl.facts',
    h('dt', 'connected'), h('dd', yesNo(d.connected)),
    h('dt', 'masters'), h('dd', (d.masters || []).join(', ') || '—'),
    h('dt', 'last seen'), h('dd', d.last_seen || '—'),
    h('dt', 'key'), h('dd', d.key || '—'),
    h('dt', 'last highstate'), h('dd', run ? [lastState(run), ' (', run.fun, ' at ', run.time, ', job ', link('#/job/' + run.jid, run.jid), ')'] : '—'),
    own.map(([k, v]) => [h('dt', k), h('dd', text(v))]));
  const grains = Object.entries(d.grains || {}).sort(([a], [b]) => a.localeCompare(b));
  const grainTable = table(['grain', 'value'],
    grains.map(([k, v]) => h('tr', h('th', k), h('td', h('pre', grainText(v))))), 'grains');
  const jobRows = jobs.error ? h('p.error', jobs.error)
    : table(['jid', 'function', 'target', 'user', 'start'],
      Object.entries(jobs).map(([jid, j]) => h('tr', h('td', link('#/job/' + jid, jid)),
        h('td', j.Function), h('td', text(j.Target)), h('td', j.User), h('td', j.StartTime))));
  return h('section',
    h('h1', 'Minion ', h('span#minion-id', id)),
    facts,
    h('details.grains', h('summary', `Grains (${grains.length})`), grainTable),
    h('h2', 'Grain history'),
    history.error ? h('p.error', history.error) : historyView(history),
    h('h2', 'Recent jobs'), jobRows);
}

// group_by rows -> chart rows (null values shown as "(none)").
function counted(rows, field) {
  return rows.map((r) => ({ label: r[field] == null ? '(none)' : text(r[field]), count: r.count }));
}

export async function overview() {
  const by = (field) => api.get('/inventory/query?group_by=' + enc(field));
  const [os, app, presence] = await Promise.all([by('os'), by('appcode'), by('connected')]);
  const pres = presence.map((r) => ({ label: r.connected ? 'connected' : 'disconnected', count: r.count }));
  return h('section', h('h1', 'Overview'),
    h('div.cards',
      h('div.card#chart-presence', h('h2', 'Presence'), donut(pres, { colors: pres.map((p) => (p.label === 'connected' ? '#3f9a5b' : '#c0473b')) })),
      h('div.card#chart-os', h('h2', 'By OS'), bars(counted(os, 'os'))),
      h('div.card#chart-appcode', h('h2', 'By application code'), bars(counted(app, 'appcode')))));
}

// The DOM keeps at most this many events; older rows are dropped.
const MAX_EVENT_ROWS = 300;

export async function events() {
  const glob = h('input#event-tag', { value: sessionStorage.getItem('brine.events') || '*', placeholder: 'tag glob, e.g. brine/job/*' });
  const body = h('tbody#event-rows');
  const status = h('span.muted#event-status', 'connecting…');
  let stream = null;
  const start = () => {
    if (stream) stream.close();
    body.replaceChildren();
    sessionStorage.setItem('brine.events', glob.value);
    stream = api.events(glob.value.trim() || '*', (tag, data) => {
      const now = new Date().toISOString().slice(11, 23);
      body.prepend(h('tr', h('td.time', now), h('td.tag', tag), h('td', h('pre', JSON.stringify(data)))));
      while (body.childElementCount > MAX_EVENT_ROWS) body.lastElementChild.remove();
    }, (err) => {
      status.textContent = err ? 'stream ended: ' + err.message : 'stream ended';
    });
    stream.ready.then(() => { status.textContent = 'live'; }, (e) => { status.textContent = e.message; });
  };
  onLeave(() => stream && stream.close());
  start();
  return h('section', h('h1', 'Events'),
    h('form.filter', { on: { submit: (ev) => { ev.preventDefault(); start(); } } },
      glob, h('button', { type: 'submit' }, 'Watch'), status),
    h('table.events', h('thead', h('tr', h('th', 'time'), h('th', 'tag'), h('th', 'data'))), body));
}

export async function keys() {
  const section = h('section', h('h1', 'Keys'));
  const holder = h('div');
  section.append(holder);
  const act = async (what, id) => {
    const verb = { accept: 'Accept', reject: 'Reject', delete: 'Delete' }[what];
    if (!window.confirm(`${verb} the key of '${id}'?`)) return;
    try {
      if (what === 'delete') await api.send('DELETE', '/keys/' + enc(id));
      else await api.send('POST', `/keys/${enc(id)}/${what}`);
      await draw();
    } catch (e) {
      showError(e.message);
    }
  };
  const button = (what, id) => h('button.small.' + what, { type: 'button', 'data-act': what, 'data-id': id, on: { click: () => act(what, id) } }, what);
  const actions = {
    pending: ['accept', 'reject', 'delete'],
    accepted: ['reject', 'delete'],
    rejected: ['accept', 'delete'],
    denied: ['delete'],
  };
  async function draw() {
    let reply;
    try {
      reply = await api.get('/keys');
    } catch (e) {
      holder.replaceChildren(h('p.error', e.status === 403 ? 'Key management is for admins only: ' + e.message : e.message));
      return;
    }
    const groups = ['pending', 'accepted', 'rejected', 'denied'].map((state) => {
      const rows = reply.keys.filter((k) => k.state === state);
      return h('div.keygroup', h('h2', `${state} (${rows.length})`),
        rows.length ? table(['id', 'fingerprint', ''], rows.map((k) =>
          h('tr', h('td', k.id), h('td.mono', k.fingerprint), h('td', (actions[state] || []).map((a) => button(a, k.id)))))) : h('p.muted', 'none'));
    });
    holder.replaceChildren(...groups);
  }
  await draw();
  return section;
}
