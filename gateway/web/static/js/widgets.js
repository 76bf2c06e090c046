// Pieces several pages show: status and colour chips, the audit entry (a
// line of a timeline or of the activity feed), error and empty states.

import { h } from './dom.js';
import { t, tOr, fmtDateTime, fmtDate } from './i18n.js';
import { session, unitName } from './session.js';
import { errorText } from './problems.js';

export function statusChip(status) {
  return h('span', { class: `chip status-${status}`, dataset: { status }, text: tOr(`status.${status}`, status) });
}

// escalationChip shows how far the deadline watcher has escalated an
// overdue item for its current deadline: its owner reminded, passed to the
// unit's head, or to the committee; after the item was finished, as
// history. Nothing without an escalation.
export function escalationChip(esc) {
  if (!esc) return null;
  const whom = tOr(`esc.${esc.whom}`, esc.whom);
  return h('span', {
    class: ['chip', 'esc', `esc-${esc.whom}`, esc.open ? '' : 'esc-past'],
    dataset: { escalation: esc.whom, open: String(esc.open) },
    title: t('esc.title', { step: esc.step, time: fmtDateTime(esc.at) }),
    text: esc.open ? whom : t('esc.past', { whom }),
  });
}

// asOfBanner says that a page shows the past, as of when (a time, or a
// position:N of the event log), with a link back to now.
export function asOfBanner(asOf, nowHref) {
  const when = asOf.startsWith('position:') ? t('asof.position', { n: asOf.slice('position:'.length) }) : fmtDateTime(asOf);
  return h('p', { class: 'notice asof-banner', id: 'asof-banner', attrs: { role: 'note' } },
    t('asof.banner', { time: when }), ' ', h('a', { href: nowHref, id: 'asof-now', text: t('asof.now') }));
}

// ragChip shows red/yellow/green/done with a word, never colour alone.
export function ragChip(rag) {
  return h('span', { class: `chip rag-${rag}`, dataset: { rag }, text: tOr(`rag.${rag}`, rag) });
}

export function pageHeader(title, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { text: title }), extra);
}

export function errorBox(err) {
  const code = err && err.code ? err.code : 'internal';
  const head = tOr(`error.${code}`, t('error.internal'));
  const detail = err && err.fields && err.fields.length ? errorText(err) : err && err.message;
  return h('div', { class: 'error-box', attrs: { role: 'alert' } },
    h('p', { text: head }), detail ? h('p', { class: 'muted', text: detail }) : null);
}

export function empty(text) {
  return h('p', { class: 'empty', text });
}

// fieldLabel names a field of an audit change; measure:<id> and
// evidence:<id> carry the id after the colon.
function fieldLabel(field) {
  const [base, id] = field.split(':');
  const label = tOr(`field.${base}`, base);
  return id ? `${label} (${id})` : label;
}

// changeValue shows a changed value: statuses translated, dates formatted.
function changeValue(field, v) {
  if (v === '') return '—';
  if (field === 'status') return tOr(`status.${v}`, v);
  if (field === 'severity') return tOr(`severity.${v}`, v);
  if (field === 'period') return tOr(`period.${v}`, v);
  if (field === 'kind') return tOr(`unitkind.${v}`, v);
  if (field === 'unit' || field === 'parent') return unitName(v);
  if (field === 'cycle') {
    const c = session.cycles.find((x) => x.id === v);
    return c ? c.name : v;
  }
  if (field.startsWith('measure:')) return tOr(`mstate.${v}`, v);
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return fmtDate(v);
  return v;
}

// targetHref is the page of what an audit entry is about: an item's own
// page, the commitments, a unit's or a cycle's ledger; '' for users.
function targetHref(e) {
  const id = encodeURIComponent(e.aggregate_id);
  switch (e.kind) {
    case 'item': return `#/items/${id}`;
    case 'commitment': return '#/commitments';
    case 'unit': return `#/ledger?unit_id=${id}`;
    case 'cycle': return `#/ledger?cycle_id=${id}`;
    default: return '';
  }
}

// auditTarget names what an entry is about by its kind and title (the
// feed carries the title), the id only when the title is unknown, linked
// to its page.
function auditTarget(e) {
  const name = e.title || e.aggregate_id;
  const href = targetHref(e);
  return h('span', { class: 'target', dataset: { kind: e.kind, id: e.aggregate_id } },
    h('span', { class: 'muted', text: `${tOr(`kind.${e.kind}`, e.kind)} ` }),
    href ? h('a', { href, class: 'target-link', text: name, title: e.aggregate_id }) : h('span', { text: name, title: e.aggregate_id }));
}

// auditEntry renders one event: when, who, what, to what, and each field
// before and after.
export function auditEntry(e, { showTarget = false } = {}) {
  const what = tOr(`event.${e.type}`, e.type);
  const target = showTarget ? auditTarget(e) : null;
  return h('li', { class: 'entry', dataset: { type: e.type, position: String(e.position) } },
    h('div', { class: 'entry-head' },
      h('time', { dateTime: e.time, text: fmtDateTime(e.time) }),
      h('span', { class: 'actor', text: e.actor_name || e.actor }),
      h('span', { class: 'what', text: what }),
      target,
      showTarget && e.unit_name ? h('span', { class: 'muted', text: e.unit_name }) : null),
    e.changes && e.changes.length
      ? h('ul', { class: 'changes' }, e.changes.map((c) => h('li', null,
        h('span', { class: 'c-field', text: fieldLabel(c.field) }), ': ',
        c.before !== '' ? [h('del', { text: changeValue(c.field, c.before) }), ' → '] : null,
        h('ins', { text: changeValue(c.field, c.after) }))))
      : null,
    e.reason ? h('p', { class: 'reason' }, h('span', { class: 'muted', text: `${t('item.reasonOrNote')}: ` }), e.reason) : null);
}

// table builds a table with a caption and column headers; rows are arrays
// of cells (elements or text). Each cell carries its header as data-label
// so that the narrow layout can show it beside the value.
export function table(caption, headers, rows, { className } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: ['data', className] },
      caption ? h('caption', { text: caption }) : null,
      h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', null, rows.map((r) => h('tr', r.attrs || null,
        (r.cells || r).map((c, i) => h('td', { dataset: { label: headers[i] } }, c)))))));
}
