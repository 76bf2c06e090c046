// The ledger (台账): the items in scope, filtered, searched, sorted and
// paged with the API's cursors, exported as CSV, and the form to raise an
// item. The filters live in the URL (#/ledger?q=...), so a filtered view
// can be bookmarked and shared.

import { h, replace, debounce } from '../dom.js';
import { t, tOr, fmtDate, fmtNumber } from '../i18n.js';
import * as api from '../api.js';
import { session, can, unitsWhere, unitOptions } from '../session.js';
import { actionForm } from '../forms.js';
import { pageHeader, errorBox, table, statusChip, ragChip, empty } from '../widgets.js';

const STATUSES = ['raised', 'assigned', 'in_progress', 'submitted', 'closed', 'withdrawn'];
const RAGS = ['red', 'yellow', 'green', 'done'];
const SORTS = { deadline: 'sort.deadline', raised: 'sort.raised', updated: 'sort.updated', title: 'sort.title', status: 'sort.status' };
const SEVERITIES = ['low', 'normal', 'high'];
const FILTERS = ['q', 'cycle_id', 'unit_id', 'status', 'rag', 'sort', 'order'];
const PAGE = 50;

export function mount(root, ctx) {
  const state = {};
  for (const k of FILTERS) state[k] = ctx.query.get(k) || '';
  let cursors = ['']; // cursors[i] fetches page i
  let pageNo = 0;
  let ctrl = new AbortController();

  const list = h('div', { class: 'ledger-list', attrs: { 'aria-live': 'polite' } });
  const exportBtn = h('button', { type: 'button', id: 'export', class: 'secondary', text: t('ledger.export') });
  const exportStatus = h('span', { class: 'muted', attrs: { role: 'status' } });
  root.append(pageHeader(t('ledger.title'), h('div', { class: 'head-tools' }, exportBtn, exportStatus)));
  if (can('raise') && session.cycles.some((c) => !c.closed)) root.append(raiseForm((reply) => refresh(reply.position)));
  root.append(filterForm(), list);

  function params(cursor) {
    return {
      q: state.q, cycle_id: state.cycle_id, unit_id: state.unit_id, status: state.status, rag: state.rag,
      sort: state.sort, order: state.order, limit: PAGE, with_total: true, cursor,
    };
  }

  function syncURL() {
    const qs = api.query(Object.fromEntries(FILTERS.map((k) => [k, state[k]])));
    history.replaceState(null, '', `#/ledger${qs}`);
  }

  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    list.setAttribute('aria-busy', 'true');
    try {
      const res = await api.get('/items', { params: params(cursors[pageNo]), minPos, signal: ctrl.signal });
      cursors[pageNo + 1] = res.next_cursor || '';
      replace(list, results(res));
    } catch (err) {
      if (err.name !== 'AbortError') replace(list, errorBox(err));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function restart() {
    cursors = [''];
    pageNo = 0;
    syncURL();
    refresh(0);
  }

  function results(res) {
    const items = res.items || [];
    const total = res.total ?? items.length;
    const rows = items.map((it) => ({
      attrs: { dataset: { item: it.id } },
      cells: [
        h('a', { class: 'item-link', href: `#/items/${encodeURIComponent(it.id)}`, text: it.title }),
        it.unit_name || it.unit_id,
        statusChip(it.status),
        ragChip(it.rag),
        h('span', null, fmtDate(it.deadline), it.days_left != null && it.days_left < 0
          ? h('span', { class: 'overdue', text: ` ${t('ledger.daysOverdue', { n: fmtNumber(-it.days_left) })}` }) : null),
        `${fmtNumber(it.percent)}%`,
        it.owner_name || '—',
      ],
    }));
    const prev = h('button', { type: 'button', class: 'secondary', id: 'prev-page', text: t('ledger.prev'), disabled: pageNo === 0 });
    const next = h('button', { type: 'button', class: 'secondary', id: 'next-page', text: t('ledger.next'), disabled: !res.next_cursor });
    prev.addEventListener('click', () => { pageNo -= 1; refresh(0); });
    next.addEventListener('click', () => { pageNo += 1; refresh(0); });
    return [
      h('p', { class: 'muted', id: 'ledger-count', text: t('ledger.count', { n: fmtNumber(total), page: fmtNumber(pageNo + 1) }) }),
      rows.length ? table(null, [t('col.title'), t('col.unit'), t('col.status'), t('col.rag'), t('col.deadline'), t('col.percent'), t('col.owner')], rows, { className: 'ledger' })
        : empty(t('ledger.none')),
      h('nav', { class: 'pager', attrs: { 'aria-label': t('ledger.pages') } }, prev, next),
    ];
  }

  function filterForm() {
    const sel = (name, label, options, anyLabel = t('ledger.any')) => {
      const s = h('select', { id: `flt-${name}`, name },
        h('option', { value: '', text: anyLabel }),
        options.map((o) => h('option', { value: o.value, text: o.label, selected: state[name] === o.value })));
      s.addEventListener('change', () => { state[name] = s.value; restart(); });
      return h('div', { class: 'field' }, h('label', { for: s.id, text: label }), s);
    };
    const q = h('input', { id: 'flt-q', name: 'q', type: 'search', value: state.q, maxLength: 100, autocomplete: 'off' });
    const runSearch = debounce(() => { if (q.value.trim() !== state.q) { state.q = q.value.trim(); restart(); } }, 350);
    q.addEventListener('input', runSearch);
    const form = h('form', { class: 'filters card', attrs: { role: 'search', 'aria-label': t('ledger.filters') } },
      h('div', { class: 'field search' }, h('label', { for: 'flt-q', text: t('ledger.search') }), q),
      sel('status', t('col.status'), STATUSES.map((s) => ({ value: s, label: tOr(`status.${s}`, s) }))),
      sel('rag', t('col.rag'), RAGS.map((r) => ({ value: r, label: tOr(`rag.${r}`, r) }))),
      sel('unit_id', t('col.unit'), unitOptions()),
      sel('cycle_id', t('col.cycle'), session.cycles.map((c) => ({ value: c.id, label: c.name }))),
      sel('sort', t('ledger.sort'), Object.entries(SORTS).filter(([v]) => v !== 'deadline').map(([value, key]) => ({ value, label: t(key) })), t('sort.deadline')),
      sel('order', t('ledger.order'), [{ value: 'desc', label: t('ledger.desc') }], t('ledger.asc')),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: t('ledger.apply') })));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      state.q = q.value.trim();
      restart();
    });
    return form;
  }

  exportBtn.addEventListener('click', async () => {
    exportBtn.disabled = true;
    exportStatus.textContent = t('ledger.exporting');
    try {
      const rows = [];
      let cursor = '';
      do {
        const res = await api.get('/items', { params: { ...params(cursor), limit: 200, with_total: false } });
        rows.push(...(res.items || []));
        cursor = res.next_cursor || '';
      } while (cursor);
      api.saveBlob(new Blob([toCSV(rows)], { type: 'text/csv;charset=utf-8' }), `ledger-${new Date().toISOString().slice(0, 10)}.csv`);
      exportStatus.textContent = t('ledger.exported', { n: fmtNumber(rows.length) });
    } catch (err) {
      exportStatus.textContent = `${t('error.internal')} ${err.message}`;
    } finally {
      exportBtn.disabled = false;
    }
  });

  refresh(0);
  return { refresh, wants: (c) => c.view === 'ledger' && c.key.startsWith('item:'), destroy: () => ctrl.abort() };
}

function raiseForm(done) {
  const open = session.cycles.filter((c) => !c.closed);
  return actionForm({
    action: 'raise',
    title: t('action.raise'),
    submitLabel: t('action.raise'),
    fields: [
      { name: 'cycle_id', label: t('field.cycle'), type: 'select', required: true, options: open.map((c) => ({ value: c.id, label: c.name })) },
      { name: 'unit_id', label: t('field.unit'), type: 'select', required: true, options: unitOptions(unitsWhere('raise')) },
      { name: 'title', label: t('field.title'), required: true, wide: true },
      { name: 'description', label: t('field.description'), type: 'textarea', wide: true },
      { name: 'category', label: t('field.category') },
      { name: 'source', label: t('field.source') },
      { name: 'severity', label: t('field.severity'), type: 'select', options: SEVERITIES.map((s) => ({ value: s, label: tOr(`severity.${s}`, s) })) },
      { name: 'deadline', label: t('field.deadline'), type: 'date', required: true },
    ],
    run: (v, key) => api.post('/items', v, key),
    done,
  });
}

// toCSV writes the items as CSV with a byte order mark (so spreadsheet
// programs read the Chinese text as UTF-8). A cell that starts like a
// formula is prefixed with ' so that opening the file runs nothing.
export function toCSV(items) {
  const cols = [
    ['csv.id', (i) => i.id], ['csv.title', (i) => i.title], ['csv.unit', (i) => i.unit_name || i.unit_id],
    ['csv.cycle', (i) => i.cycle_name || i.cycle_id], ['csv.status', (i) => tOr(`status.${i.status}`, i.status)],
    ['csv.rag', (i) => tOr(`rag.${i.rag}`, i.rag)], ['csv.deadline', (i) => i.deadline], ['csv.days_left', (i) => i.days_left ?? ''],
    ['csv.percent', (i) => i.percent], ['csv.owner', (i) => i.owner_name || ''], ['csv.category', (i) => i.category || ''],
    ['csv.severity', (i) => (i.severity ? tOr(`severity.${i.severity}`, i.severity) : '')], ['csv.raised_on', (i) => i.raised_on],
    ['csv.closed_on', (i) => i.closed_on || ''],
  ];
  const cell = (v) => {
    let s = String(v ?? '');
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [cols.map(([k]) => cell(t(k))).join(',')];
  for (const it of items) lines.push(cols.map(([, f]) => cell(f(it))).join(','));
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
