// Languages: zh-CN and en. The dictionaries are JSON files beside this
// module (i18n/<lang>.json) with the same keys; a Go test checks that, and
// that every key the HTML and scripts use exists. Dates and numbers are
// formatted with Intl for the chosen language.

export const LANGS = ['zh-CN', 'en'];
const STORE_KEY = 'rectify.lang';

let lang = 'zh-CN';
let dict = {};
const cache = new Map();
const listeners = new Set();

// preferred picks the language: the one chosen before, else the first of
// the browser's languages that is Chinese or English, else English.
function preferred() {
  const stored = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(stored)) return stored;
  for (const l of navigator.languages || [navigator.language || '']) {
    const low = l.toLowerCase();
    if (low.startsWith('zh')) return 'zh-CN';
    if (low.startsWith('en')) return 'en';
  }
  return 'en';
}

async function load(l) {
  if (!cache.has(l)) {
    const resp = await fetch(`/ui/i18n/${l}.json`, { cache: 'no-cache' });
    if (!resp.ok) throw new Error(`dictionary ${l}: ${resp.status}`);
    cache.set(l, await resp.json());
  }
  return cache.get(l);
}

export async function initI18n() {
  await setLang(preferred(), false);
}

// setLang switches the language, re-labels the static page and tells the
// listeners (the current page re-renders itself).
export async function setLang(l, remember = true) {
  if (!LANGS.includes(l)) l = 'zh-CN';
  dict = await load(l);
  lang = l;
  if (remember) localStorage.setItem(STORE_KEY, l);
  document.documentElement.lang = l;
  applyI18n(document);
  for (const fn of listeners) fn(l);
}

export function currentLang() {
  return lang;
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// t translates key, filling {name} placeholders from vars. A missing key
// shows itself, so a gap is visible rather than blank.
export function t(key, vars) {
  let out = Object.hasOwn(dict, key) ? dict[key] : key;
  if (vars) out = out.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return out;
}

// tOr translates key, or gives fallback when the dictionary lacks it: for
// keys built from data (an unknown event type from a newer server).
export function tOr(key, fallback) {
  return Object.hasOwn(dict, key) ? dict[key] : fallback;
}

// applyI18n labels the elements under root that carry data-i18n (text),
// data-i18n-placeholder, data-i18n-aria-label or data-i18n-title.
export function applyI18n(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}

// Dates of the API ("2026-03-01") are calendar days: they are shown as
// such, whatever the browser's time zone.
export function fmtDate(day) {
  if (!day) return '—';
  const [y, m, d] = day.split('-').map(Number);
  if (!y || !m || !d) return day;
  return new Intl.DateTimeFormat(lang, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function fmtShortDate(day) {
  if (!day) return '';
  const [y, m, d] = day.split('-').map(Number);
  return new Intl.DateTimeFormat(lang, { month: 'numeric', day: 'numeric', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function fmtDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function fmtNumber(n) {
  return new Intl.NumberFormat(lang).format(n ?? 0);
}

export function fmtPercent(share) {
  if (share == null) return '—';
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 }).format(share);
}

export function fmtBytes(n) {
  const units = ['byte', 'kilobyte', 'megabyte'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return new Intl.NumberFormat(lang, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: 1 }).format(v);
}
