// The console's shell: login, the nav bar, and hash routing to pages.
// Each page is a function (params) -> Promise<Node>, and may register a
// cleanup (closing its event stream) that runs when the page changes.

import * as api from './api.js';
import { h } from './dom.js';
import * as pages from './pages.js';
import * as jobs from './jobs.js';

const routes = [
  [/^#\/minions$/, pages.minions, 'Minions'],
  [/^#\/minion\/(.+)$/, pages.minion, null],
  [/^#\/run$/, jobs.launcher, 'Run'],
  [/^#\/jobs$/, jobs.list, 'Jobs'],
  [/^#\/job\/(\d+)$/, jobs.job, null],
  [/^#\/events$/, pages.events, 'Events'],
  [/^#\/keys$/, pages.keys, 'Keys'],
  [/^#\/overview$/, pages.overview, 'Overview'],
];

let cleanup = [];
// The page on screen; a slow answer for an older page is dropped.
let generation = 0;

export function onLeave(fn) {
  cleanup.push(fn);
}

export function showError(message) {
  const box = document.getElementById('error');
  box.textContent = message || '';
  box.hidden = !message;
}

function nav(s) {
  const bar = document.getElementById('nav');
  bar.replaceChildren();
  for (const [re, , label] of routes) {
    if (!label) continue;
    // Key management is for admins only: others would get a 403.
    if (label === 'Keys' && !s.admin) continue;
    const href = re.source.replace(/^\^|\$$/g, '').replace(/\\\//g, '/');
    bar.append(h('a', { href, 'data-nav': label.toLowerCase() }, label));
  }
  document.getElementById('user').textContent = s.user;
  document.getElementById('top').hidden = false;
}

function loginPage(message) {
  document.getElementById('top').hidden = true;
  const user = h('input#login-user', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input#login-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p.error#login-error', { hidden: !message }, message || '');
  const form = h('form.login', {
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        err.hidden = true;
        try {
          const r = await api.send('POST', '/login', { username: user.value, password: pass.value });
          api.setSession({ token: r.token, user: r.user, admin: r.admin, areas: r.areas });
          if (!location.hash || location.hash === '#/login') location.hash = '#/minions';
          route();
        } catch (e) {
          err.textContent = e.message;
          err.hidden = false;
        }
      },
    },
  },
  h('h1', 'Brine console'),
  h('label', 'User', user),
  h('label', 'Password', pass),
  h('button#login-submit', { type: 'submit' }, 'Log in'),
  err);
  document.getElementById('main').replaceChildren(form);
  user.focus();
}

async function route() {
  for (const fn of cleanup.splice(0)) fn();
  showError('');
  const s = api.session();
  if (!s) return loginPage();
  nav(s);
  const hash = location.hash || '#/minions';
  const mine = ++generation;
  for (const [re, page, label] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.nav === (label || '').toLowerCase());
    }
    const main = document.getElementById('main');
    main.replaceChildren(h('p.muted', 'Loading…'));
    try {
      const node = await page(...m.slice(1).map(decodeURIComponent));
      if (mine === generation) main.replaceChildren(node);
    } catch (e) {
      if (mine !== generation || e.status === 401) return;
      main.replaceChildren(h('p.error', e.message));
    }
    return;
  }
  location.hash = '#/minions';
}

api.whenUnauthorized((message) => {
  api.setSession(null);
  loginPage(message);
});

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('logout').addEventListener('click', async () => {
    try {
      await api.send('POST', '/logout');
    } catch {
      // logged out either way
    }
    api.setSession(null);
    location.hash = '#/login';
    loginPage();
  });
  window.addEventListener('hashchange', route);
  route();
});
