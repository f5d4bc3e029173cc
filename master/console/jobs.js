// Jobs: the launcher (returns appear live), the jobs list, one job.

import * as api from './api.js';
import { h, text, table, link, enc } from './dom.js';
import { onLeave, showError } from './app.js';

// One argument line as JSON when it reads as JSON (numbers, true, lists),
// else the text as typed: what `brine` does with its YAML-ish arguments.
function value(s) {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

// Lines -> {arg, kwarg}: `key=value` is a keyword argument (the key a
// plain name, so `cmd=ls -l` is a kwarg but `echo a=b` is not).
export function parseArgs(textArea) {
  const arg = [];
  const kwarg = {};
  for (const raw of textArea.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (m) kwarg[m[1]] = value(m[2]);
    else arg.push(value(line));
  }
  return { arg, kwarg };
}

function retText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

// A returns table that fills in as minions return.
function returnsView() {
  const body = h('tbody#job-returns');
  const seen = new Set();
  const add = (id, ret, retcode) => {
    if (seen.has(id)) return;
    seen.add(id);
    const ok = !retcode;
    body.append(h('tr', { 'data-id': id, class: ok ? 'ok' : 'failed' },
      h('td', link('#/minion/' + enc(id), id)),
      h('td', h('span.badge.' + (ok ? 'ok' : 'bad'), ok ? 'ok' : 'retcode ' + retcode)),
      h('td', h('pre', retText(ret)))));
  };
  const node = h('table.returns', h('thead', h('tr', h('th', 'minion'), h('th', 'result'), h('th', 'return'))), body);
  return { node, add, seen };
}

export async function launcher() {
  const tgt = h('input#run-tgt', { value: '*', required: true });
  const type = h('select#run-type', ['glob', 'compound', 'list', 'grain', 'grain_pcre', 'pcre', 'pillar', 'ipcidr', 'nodegroup']
    .map((t) => h('option', { value: t }, t)));
  const fun = h('input#run-fun', { value: 'test.ping', required: true });
  const args = h('textarea#run-args', { rows: 4, placeholder: 'one argument a line; key=value for keyword arguments' });
  const timeout = h('input#run-timeout', { type: 'number', min: 1, max: 3600, value: 10 });
  const out = h('div#run-output');
  let stream = null;
  onLeave(() => stream && stream.close());

  async function run(ev) {
    ev.preventDefault();
    showError('');
    if (stream) stream.close();
    const { arg, kwarg } = parseArgs(args.value);
    const view = returnsView();
    const missing = h('p#run-missing');
    const summary = h('p#run-summary.muted', 'publishing…');
    out.replaceChildren(summary, missing, view.node);
    // Subscribe before publishing so no return can slip past; returns of
    // other jobs are ignored once our jid is known (held until then).
    let jid = null;
    let expected = [];
    const early = [];
    const update = () => {
      const left = expected.filter((id) => !view.seen.has(id));
      missing.textContent = left.length ? 'still missing: ' + left.join(', ') : '';
      if (jid) summary.textContent = `job ${jid}: ${view.seen.size} of ${expected.length} returned`;
      return left.length;
    };
    const onRet = (e) => {
      view.add(e.id, e.return, e.retcode || (e.success === false ? 1 : 0));
      update();
    };
    stream = api.events('brine/job/*/ret/*', (tag, e) => {
      if (!jid) early.push(e);
      else if (e.jid === jid) onRet(e);
    });
    try {
      await stream.ready;
      const r = await api.send('POST', '/jobs', { tgt: tgt.value, tgt_type: type.value, fun: fun.value, arg, kwarg, timeout: Number(timeout.value), async: true });
      jid = r.jid;
      expected = r.minions;
    } catch (e) {
      stream.close();
      summary.textContent = '';
      showError(e.message);
      return;
    }
    early.filter((e) => e.jid === jid).forEach(onRet);
    update();
    // When every minion returned or the timeout passed: the job's record
    // (returns and the reason each missing minion did not return).
    const deadline = Date.now() + Number(timeout.value) * 1000 + 2000;
    const mine = stream;
    while (update() > 0 && Date.now() < deadline && stream === mine) {
      await new Promise((res) => setTimeout(res, 250));
    }
    if (stream !== mine) return;
    stream.close();
    try {
      const job = await api.get('/jobs/' + jid);
      for (const [id, r] of Object.entries(job.Result || {})) view.add(id, r.return, r.retcode);
      const failed = Object.values(job.Result || {}).filter((r) => r.retcode).length;
      const lost = job.Missing || [];
      update();
      summary.replaceChildren('Done: ', link('#/job/' + jid, 'job ' + jid), ` — ${view.seen.size} returned, ${failed} failed, ${lost.length} missing`);
      summary.className = 'summary';
      missing.textContent = lost.map((m) => `${m.id}: ${m.reason}`).join('; ');
    } catch (e) {
      showError(e.message);
    }
  }

  return h('section', h('h1', 'Run a job'),
    h('form.launcher', { on: { submit: run } },
      h('label', 'Target', tgt), h('label', 'Target type', type), h('label', 'Function', fun),
      h('label.wide', 'Arguments', args), h('label', 'Timeout (s)', timeout),
      h('button#run-submit', { type: 'submit' }, 'Run')),
    out);
}

export async function list() {
  const jobs = await api.get('/jobs?limit=100');
  const rows = Object.entries(jobs).map(([jid, j]) =>
    h('tr', h('td', link('#/job/' + jid, jid)), h('td', j.Function), h('td', text(j.Target)),
      h('td', j.User), h('td', j.StartTime), h('td', `${j.Returned}/${j.Expected}`)));
  return h('section', h('h1', 'Jobs'), rows.length ? table(['jid', 'function', 'target', 'user', 'start', 'returned'], rows, 'jobs') : h('p.muted', 'No jobs yet.'));
}

export async function job(jid) {
  const j = await api.get('/jobs/' + jid);
  const view = returnsView();
  for (const [id, r] of Object.entries(j.Result || {})) view.add(id, r.return, r.retcode);
  const lost = j.Missing || [];
  return h('section', h('h1', 'Job ', jid),
    h('dl.facts', h('dt', 'function'), h('dd', j.Function), h('dt', 'arguments'), h('dd', text(j.Arguments)),
      h('dt', 'target'), h('dd', `${text(j.Target)} (${j['Target-type']})`), h('dt', 'user'), h('dd', j.User),
      h('dt', 'started'), h('dd', j.StartTime), h('dt', 'minions'), h('dd', (j.Minions || []).join(', '))),
    h('h2', 'Returns'), view.node,
    h('h2', `Missing (${lost.length})`),
    lost.length ? table(['minion', 'reason'], lost.map((m) => h('tr', h('td', m.id), h('td', m.reason)))) : h('p.muted', 'none'));
}
