// The console's shell: sign-in, navigation between pages (in the URL
// fragment, so nothing about the page leaves the browser), and the
// lifecycle of each page (started on entry, stopped on exit).
import { token, api, Unauthorized } from './lib.js';
import * as overview from './pages/overview.js';
import * as backends from './pages/backends.js';
import * as audit from './pages/audit.js';
import * as plugins from './pages/plugins.js';
import * as capabilities from './pages/capabilities.js';

const pages = { overview, backends, audit, plugins, capabilities };
const $ = (id) => document.getElementById(id);
let current = null; // { abort: AbortController }

function showLogin(message) {
  stopPage();
  token.clear();
  $('top').hidden = true;
  $('page').replaceChildren();
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

function stopPage() {
  if (current) current.abort();
  current = null;
}

export function setLive(on) {
  $('live').classList.toggle('on', on);
  $('live').title = on ? 'live updates connected' : 'live updates disconnected';
}

async function route() {
  if (!token.get()) return showLogin();
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
  const page = pages[name] || overview;
  stopPage();
  const abort = new AbortController();
  current = abort;
  $('login').hidden = true;
  $('top').hidden = false;
  setLive(false);
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === name);
  const root = document.createElement('div');
  root.className = 'page page-' + name;
  $('page').replaceChildren(root);
  document.title = `Argus · ${name[0].toUpperCase()}${name.slice(1)}`;
  try {
    await page.render(root, { signal: abort.signal, setLive });
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin('The token was refused: sign in again.');
    if (abort.signal.aborted) return;
    root.append(Object.assign(document.createElement('p'), { className: 'error', textContent: 'Could not load: ' + e.message }));
  }
}

async function login(ev) {
  ev.preventDefault();
  const value = $('token').value.trim();
  if (!value) return;
  token.set(value);
  try {
    await api('/status');
  } catch (e) {
    token.clear();
    $('login-error').textContent = e instanceof Unauthorized ? 'That token is not accepted.' : 'Argus did not answer: ' + e.message;
    return;
  }
  $('token').value = '';
  if (!location.hash) location.hash = '#/overview';
  else route();
}

window.addEventListener('argus:unauthorized', () => showLogin('The token was refused: sign in again.'));
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => { showLogin('Signed out.'); });
  route();
});
