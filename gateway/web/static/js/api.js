// The API client: bearer token, JSON, error replies, idempotency keys and
// read-your-writes.
//
// Every command reply carries the $all position it wrote; a GET given
// min_position answers once its view has reached that position. Pages pass
// the position of the user's own command (or of a live change notice) to
// their refetch, so what they show always includes it.

import { sleep } from './dom.js';

const TOKEN_KEY = 'rectify.token';

// An API error reply: {"error": {"code", "message", "fields": [{field, problem}]}}.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'internal');
    this.fields = Array.isArray(e.fields) ? e.fields : [];
    // A ledger import names each problem by sheet, row and column.
    this.problems = Array.isArray(body && body.problems) ? body.problems : [];
  }
}

// The token lives in sessionStorage (this tab only) unless the person
// asked to be remembered on this device (localStorage).
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(tok, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, tok);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

// setUnauthorizedHandler registers what to do when the token stops
// working (revoked, expired): the app signs the person out.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// newKey is an idempotency key. crypto.randomUUID needs a secure context
// (https or localhost); getRandomValues works everywhere.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function headers(extra, tok = token()) {
  const hd = { Accept: 'application/json', ...extra };
  if (tok) hd.Authorization = `Bearer ${tok}`;
  return hd;
}

async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  const err = new ApiError(resp.status, body);
  if (resp.status === 401) onUnauthorized(err);
  return err;
}

// query builds a query string from an object; arrays repeat the name,
// empty values are left out.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === '' || v === false) continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// get reads a view. minPos makes the view wait until it has that
// position; a 503 (the view not there yet within the server's wait) is
// retried a few times.
export async function get(path, { params, minPos, signal, tok } = {}) {
  const p = { ...params };
  if (minPos) p.min_position = minPos;
  const url = `/api/v1${path}${query(p)}`;
  for (let attempt = 0; ; attempt += 1) {
    let resp;
    try {
      resp = await fetch(url, { headers: headers({}, tok), signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, { error: { message: e.message } });
    }
    if (resp.ok) return resp.json();
    if (resp.status === 503 && attempt < 3) {
      await sleep(400 * (attempt + 1));
      continue;
    }
    throw await errorOf(resp);
  }
}

// post sends a command with its idempotency key and returns the reply
// ({id, stream, revision, position, events, extra}).
export async function post(path, body, key) {
  return send(path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', 'Idempotency-Key': key }),
    body: JSON.stringify(body),
  });
}

// postBody sends a body that is no command (a report to read into a
// draft): a FormData, or text of contentType. It writes nothing, so it
// carries no idempotency key.
export async function postBody(path, body, contentType) {
  return send(path, { method: 'POST', headers: headers(contentType ? { 'Content-Type': contentType } : {}), body });
}

// upload sends a multipart command (evidence) with its idempotency key.
export async function upload(path, form, key) {
  return send(path, { method: 'POST', headers: headers({ 'Idempotency-Key': key }), body: form });
}

async function send(path, init) {
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: e.message } });
  }
  if (!resp.ok) throw await errorOf(resp);
  const out = await resp.json();
  if (out && out.position == null) {
    const pos = Number(resp.headers.get('X-Rectify-Position'));
    if (pos) out.position = pos;
  }
  return out;
}

// download fetches a file with the token (a plain link could not send
// it) and hands it to the browser as a download, named filename or, when
// that is empty, as the server names it. It returns the reply's headers
// (an export counts its rows in X-Rectify-Rows).
export async function download(path, filename) {
  const resp = await fetch(`/api/v1${path}`, { headers: headers({ Accept: '*/*' }) });
  if (!resp.ok) throw await errorOf(resp);
  saveBlob(await resp.blob(), filename || fileNameOf(resp.headers.get('Content-Disposition')) || 'download');
  return resp.headers;
}

// fileNameOf reads the file name of a Content-Disposition: the exact
// (RFC 5987) name when given, else the plain one.
function fileNameOf(disp) {
  if (!disp) return '';
  const ext = /filename\*=UTF-8''([^;]+)/i.exec(disp);
  if (ext) {
    try {
      return decodeURIComponent(ext[1]);
    } catch {
      // fall back to the plain name
    }
  }
  const plain = /filename="([^"]*)"/i.exec(disp);
  return plain ? plain[1] : '';
}

// saveBlob offers bytes as a file download.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
