// The dashboard application: sign-in, the router (hash routes, so that the
// gateway serves one page), the live stream and the page lifecycle.
//
// A page is a module whose mount(root, ctx) returns {refresh(minPos),
// wants(change), destroy()}. The app hands every live change notice to the
// current page; when the page wants it, the app asks the page to refetch
// with the notice's position as min_position, a little later, so that a
// burst of notices makes one refetch. A reset makes the page refetch
// everything.

import { h, replace } from './dom.js';
import { initI18n, setLang, currentLang, onLangChange, t, tOr } from './i18n.js';
import * as api from './api.js';
import { Live } from './live.js';
import { session, loadSession, refreshTree, clearSession, isAdmin } from './session.js';
import { errorBox } from './widgets.js';
import * as signin from './pages/signin.js';
import * as overview from './pages/overview.js';
import * as ledger from './pages/ledger.js';
import * as item from './pages/item.js';
import * as commitments from './pages/commitments.js';
import * as rankings from './pages/rankings.js';
import * as activity from './pages/activity.js';
import * as importReport from './pages/import.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const liveEl = document.getElementById('live');
const liveText = document.getElementById('live-text');
const who = document.getElementById('who');
const signoutBtn = document.getElementById('signout');
const langSel = document.getElementById('lang');

const RETURN_KEY = 'rectify.return';
const LIVE_TEXT = { off: 'live.off', connecting: 'live.connecting', live: 'live.live', lost: 'live.lost' };

let page = null;
let live = null;
let pendingPos = 0;
let pendingTimer = 0;
let refreshing = false;
let refreshAgain = false;
let restoredTimer = 0;

// route reads the hash: #/items/zg-001?x=y -> {name, params, query}.
function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const q = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: 'overview', params: {}, query: q };
  if (parts[0] === 'items' && parts[1]) return { name: 'item', params: { id: parts[1] }, query: q };
  const known = { signin: 1, ledger: 1, commitments: 1, rankings: 1, activity: 1, import: 1 };
  return { name: known[parts[0]] ? parts[0] : 'overview', params: {}, query: q };
}

const PAGES = { signin, overview, ledger, item, commitments, rankings, activity, import: importReport };

function render() {
  const r = route();
  if (!session.me && r.name !== 'signin') {
    // Come back here after signing in: a shared link to an item works.
    sessionStorage.setItem(RETURN_KEY, location.hash);
    location.replace('#/signin');
    return;
  }
  if (session.me && r.name === 'signin') {
    location.replace(takeReturn());
    return;
  }
  if (page) page.destroy();
  page = null;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.route === (r.name === 'item' ? 'ledger' : r.name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('div', { class: `page page-${r.name}` });
  replace(main, root);
  document.title = `${tOr(`nav.${r.name === 'item' ? 'ledger' : r.name}`, 'rectify')} · ${t('app.name')}`;
  page = PAGES[r.name].mount(root, { params: r.params, query: r.query, onSignedIn: signedIn });
}

function showChrome(on) {
  nav.hidden = !on;
  liveEl.hidden = !on;
  who.hidden = !on;
  signoutBtn.hidden = !on;
  // The report import writes commitments, an administrator's work.
  nav.querySelector('a[data-route="import"]').hidden = !(on && isAdmin());
  if (on && session.me) {
    const roles = (session.me.roles || []).map((g) => tOr(`role.${g.role}`, g.role));
    who.textContent = `${session.me.name || session.me.user_id}${roles.length ? ` · ${[...new Set(roles)].join('、')}` : ''}`;
  }
}

function liveState(st) {
  liveEl.dataset.state = st;
  clearTimeout(restoredTimer);
  if (st === 'live' && liveEl.dataset.wasLost === '1') {
    // Say once that the connection is back, then settle on "live".
    liveText.textContent = t('live.restored');
    liveEl.dataset.restored = '1';
    restoredTimer = setTimeout(() => {
      liveText.textContent = t('live.live');
      delete liveEl.dataset.restored;
    }, 4000);
  } else {
    liveText.textContent = t(LIVE_TEXT[st] || 'live.off');
  }
  liveEl.dataset.wasLost = st === 'lost' ? '1' : (st === 'live' ? '0' : liveEl.dataset.wasLost || '0');
}

function startLive() {
  if (live) live.stop();
  live = new Live({
    onState: liveState,
    onChange: (c) => {
      if (c.view === 'ledger' && (c.key === 'units' || c.key === 'cycles')) refreshTree(c.position).catch(() => {});
      if (page && page.wants(c)) schedule(c.position);
    },
    onReset: () => {
      refreshTree().catch(() => {});
      schedule(0, true);
    },
    onUnauthorized: signOut,
  });
  live.start();
}

// schedule asks the page to refetch soon, with the highest position seen.
// Notices arriving meanwhile ride along with the refetch already planned,
// and a refetch never overlaps the one before, so a steady stream of
// changes gives a steady rhythm of refetches rather than none at all.
function schedule(pos, now = false) {
  pendingPos = Math.max(pendingPos, pos || 0);
  if (now) {
    clearTimeout(pendingTimer);
    pendingTimer = 0;
    runRefresh();
  } else if (!pendingTimer) {
    pendingTimer = setTimeout(() => {
      pendingTimer = 0;
      runRefresh();
    }, 120);
  }
}

async function runRefresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      const p = pendingPos;
      pendingPos = 0;
      if (page) await page.refresh(p);
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

function takeReturn() {
  const to = sessionStorage.getItem(RETURN_KEY) || '#/';
  sessionStorage.removeItem(RETURN_KEY);
  return to.startsWith('#/') && !to.startsWith('#/signin') ? to : '#/';
}

async function signedIn() {
  showChrome(true);
  startLive();
  location.hash = takeReturn();
}

function signOut() {
  if (live) live.stop();
  live = null;
  api.clearToken();
  clearSession();
  showChrome(false);
  sessionStorage.removeItem(RETURN_KEY);
  location.hash = '#/signin';
  render();
}

async function boot() {
  await initI18n();
  langSel.value = currentLang();
  langSel.addEventListener('change', () => setLang(langSel.value));
  onLangChange(() => {
    langSel.value = currentLang();
    if (live) liveState(live.state);
    showChrome(Boolean(session.me));
    if (page) render();
  });
  signoutBtn.addEventListener('click', signOut);
  api.setUnauthorizedHandler(() => {
    if (session.me) signOut();
  });
  window.addEventListener('hashchange', () => {
    render();
    // After following a link, keyboard and screen-reader users start at
    // the new page rather than back at the top of the header.
    const a = document.activeElement;
    if (!a || a === document.body || nav.contains(a)) main.focus({ preventScroll: true });
  });
  if (api.token()) {
    try {
      await loadSession();
      showChrome(true);
      startLive();
    } catch (err) {
      if (err.status === 401) {
        api.clearToken();
      } else {
        replace(main, errorBox(err));
        return;
      }
    }
  }
  render();
}

boot().catch((err) => {
  replace(main, h('p', { class: 'error-box', text: String(err && err.message) }));
});
