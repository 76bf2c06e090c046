// The ledger (台账): the items in scope, filtered, searched, sorted and
// paged with the API's cursors, exported by the server as an Excel
// workbook or CSV (with the same filters), and the form to raise an
// item. The filters live in the URL (#/ledger?q=...), so a filtered view
// can be bookmarked and shared.

import { h, replace, debounce } from '../dom.js';
import { t, tOr, fmtDate, fmtNumber } from '../i18n.js';
import * as api from '../api.js';
import { session, can, isAdmin, unitsWhere, unitOptions } from '../session.js';
import { actionForm } from '../forms.js';
import { pageHeader, errorBox, table, statusChip, ragChip, escalationChip, empty } from '../widgets.js';

const STATUSES = ['raised', 'assigned', 'in_progress', 'submitted', 'closed', 'withdrawn'];
const RAGS = ['red', 'yellow', 'green', 'done'];
const SORTS = { deadline: 'sort.deadline', raised: 'sort.raised', updated: 'sort.updated', title: 'sort.title', status: 'sort.status' };
const SEVERITIES = ['low', 'normal', 'high'];
// The steps of the deadline watcher's escalation the filter offers.
const ESCALATIONS = [['owner', 'esc.owner'], ['head', 'esc.unit_head'], ['committee', 'esc.committee'], ['any', 'ledger.escalatedAny']];
const FILTERS = ['q', 'cycle_id', 'unit_id', 'status', 'rag', 'escalated', 'sort', 'order'];
const PAGE = 50;

export function mount(root, ctx) {
  const state = {};
  for (const k of FILTERS) state[k] = ctx.query.get(k) || '';
  let cursors = ['']; // cursors[i] fetches page i
  let pageNo = 0;
  let ctrl = new AbortController();

  const list = h('div', { class: 'ledger-list', attrs: { 'aria-live': 'polite' } });
  const exportBtn = h('button', { type: 'button', id: 'export', class: 'secondary', text: t('ledger.export') });
  const exportCSV = h('button', { type: 'button', id: 'export-csv', class: 'secondary', text: t('ledger.exportCSV') });
  const exportStatus = h('span', { class: 'muted', attrs: { role: 'status' } });
  root.append(pageHeader(t('ledger.title'), h('div', { class: 'head-tools' }, exportBtn, exportCSV, exportStatus)));
  if (can('raise') && session.cycles.some((c) => !c.closed)) root.append(raiseForm((reply) => refresh(reply.position)));
  if (isAdmin() && session.cycles.some((c) => !c.closed)) root.append(importPanel((pos) => refresh(pos)));
  root.append(filterForm(), list);

  function params(cursor) {
    return {
      q: state.q, cycle_id: state.cycle_id, unit_id: state.unit_id, status: state.status, rag: state.rag,
      escalated: state.escalated, sort: state.sort, order: state.order, limit: PAGE, with_total: true, cursor,
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
        h('span', { class: 'chips' }, ragChip(it.rag), escalationChip(it.escalation)),
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
      sel('escalated', t('ledger.escalated'), ESCALATIONS.map(([value, key]) => ({ value, label: t(key) }))),
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

  // The server writes the export (Chinese headers, one sheet per view,
  // the measures of every item) with the caller's scope and these filters.
  async function runExport(format, btn) {
    exportBtn.disabled = true;
    exportCSV.disabled = true;
    exportStatus.textContent = t('ledger.exporting');
    try {
      const { q, cycle_id, unit_id, status, rag, escalated, sort, order } = state;
      const hdrs = await api.download(`/exports/ledger.${format}${api.query({ q, cycle_id, unit_id, status, rag, escalated, sort, order })}`);
      exportStatus.textContent = t('ledger.exported', { n: fmtNumber(Number(hdrs.get('X-Rectify-Rows') || 0)) });
    } catch (err) {
      exportStatus.textContent = `${t('error.internal')} ${err.message}`;
    } finally {
      exportBtn.disabled = false;
      exportCSV.disabled = false;
      btn.focus();
    }
  }
  exportBtn.addEventListener('click', () => runExport('xlsx', exportBtn));
  exportCSV.addEventListener('click', () => runExport('csv', exportCSV));

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

// importPanel imports a ledger file (台账导入), for administrators: the
// server checks every row (a dry run) and shows what it would write, or
// every problem by sheet, row and column; the import itself is one
// command under one idempotency key, kept for the chosen file so that a
// retry after a timeout writes nothing twice.
function importPanel(done) {
  const file = h('input', { type: 'file', id: 'ledger-file', name: 'file',
    accept: '.xlsx,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv' });
  const cycle = h('select', { id: 'ledger-import-cycle', name: 'cycle_id' },
    h('option', { value: '', text: t('ledgerImport.cycleFromFile') }),
    session.cycles.filter((c) => !c.closed).map((c) => h('option', { value: c.id, text: c.name })));
  const check = h('button', { type: 'button', id: 'ledger-import-check', class: 'secondary', text: t('ledgerImport.check') });
  const confirm = h('button', { type: 'button', id: 'ledger-import-confirm', class: 'primary', text: t('ledgerImport.confirm'), disabled: true });
  const out = h('div', { id: 'ledger-import-result', attrs: { 'aria-live': 'polite' } });
  let key = '';
  const reset = () => { key = api.newKey(); confirm.disabled = true; replace(out); };
  file.addEventListener('change', reset);
  cycle.addEventListener('change', reset);

  async function send(dry) {
    const f = file.files[0];
    if (!f) {
      replace(out, h('p', { class: 'error', text: t('ledgerImport.noFile') }));
      return;
    }
    check.disabled = true;
    confirm.disabled = true;
    replace(out, h('p', { class: 'muted', text: t(dry ? 'ledgerImport.checking' : 'ledgerImport.sending') }));
    const form = new FormData();
    form.append('file', f, f.name);
    const path = `/imports/ledger${api.query({ dry_run: dry, cycle_id: cycle.value })}`;
    try {
      const rep = dry ? await api.postBody(path, form) : await api.upload(path, form, key);
      replace(out, summary(rep, dry));
      confirm.disabled = !dry;
      if (!dry) done(rep.position);
    } catch (err) {
      replace(out, err.problems && err.problems.length ? problemTable(err) : errorBox(err));
    } finally {
      check.disabled = false;
    }
  }
  check.addEventListener('click', () => send(true));
  confirm.addEventListener('click', () => send(false));

  function summary(rep, dry) {
    const measures = rep.items.reduce((n, it) => n + it.measures.length, 0);
    const cycleName = (session.cycles.find((c) => c.id === rep.cycle_id) || { name: rep.cycle_id }).name;
    const n = { items: fmtNumber(rep.items.length), measures: fmtNumber(measures), commitments: fmtNumber(rep.commitments.length), cycle: cycleName };
    const rows = rep.items.map((it) => ({
      cells: [`${it.sheet} ${it.row}`, it.id, dry ? it.title : h('a', { href: `#/items/${encodeURIComponent(it.id)}`, text: it.title }),
        it.unit_name || it.unit_id, fmtNumber(it.measures.length)],
    }));
    return [
      h('p', { id: 'ledger-import-summary', class: dry ? '' : 'ok', text: t(dry ? 'ledgerImport.ok' : 'ledgerImport.done', n) }),
      rep.ignored && rep.ignored.length ? h('p', { class: 'muted', text: t('ledgerImport.ignored', { list: rep.ignored.join('；') }) }) : null,
      rows.length ? table(null, [t('ledgerImport.col.row'), t('ledgerImport.col.id'), t('ledgerImport.col.title'), t('ledgerImport.col.unit'),
        t('ledgerImport.col.measures')], rows, { className: 'import-preview' }) : null,
    ];
  }

  function problemTable(err) {
    const rows = err.problems.map((p) => ({
      cells: [p.sheet || p.field || '', p.row ? fmtNumber(p.row) : '', p.column || '', p.cell || '', p.problem],
    }));
    return [
      h('p', { class: 'error', id: 'ledger-import-problems', text: t('ledgerImport.problems', { n: fmtNumber(err.problems.length) }) }),
      table(null, [t('ledgerImport.col.sheet'), t('ledgerImport.col.row'), t('ledgerImport.col.column'), t('ledgerImport.col.cell'),
        t('ledgerImport.col.problem')], rows, { className: 'import-problems' }),
    ];
  }

  return h('details', { class: 'card', id: 'ledger-import', dataset: { action: 'import-ledger' } },
    h('summary', { text: t('ledgerImport.title') }),
    h('p', { class: 'muted', text: t('ledgerImport.intro') }),
    h('div', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: file.id, text: t('ledgerImport.file') }), file),
      h('div', { class: 'field' }, h('label', { for: cycle.id, text: t('ledgerImport.cycle') }), cycle)),
    h('div', { class: 'form-actions' }, check, confirm),
    out);
}
