// Commitments (承诺): the compliance grid, one row per commitment and one
// cell per period (met green, missed red, with the count written in the
// cell), each unit's compliance, and the form to log an activity.

import { h, replace } from '../dom.js';
import { t, tOr, fmtDate, fmtNumber, fmtPercent } from '../i18n.js';
import * as api from '../api.js';
import { can } from '../session.js';
import { actionForm } from '../forms.js';
import { pageHeader, errorBox, table, empty } from '../widgets.js';

const PERIODS = ['week', 'month', 'quarter'];
const PSTATUSES = ['met', 'missed', 'in_progress', 'upcoming', 'exempt'];

export function mount(root, ctx) {
  const state = { period: ctx.query.get('period') || '', from: ctx.query.get('from') || '', to: ctx.query.get('to') || '' };
  let ctrl = new AbortController();
  let cursor = '';
  let shown = [];
  let today = '';
  const grid = h('section', { class: 'card', id: 'grid' });
  const unitsBox = h('section', { class: 'card', id: 'unit-compliance' });
  const logBox = h('div', { id: 'log-box' });
  root.append(pageHeader(t('commitments.title')), filters(), logBox, grid, unitsBox);

  function filters() {
    const period = h('select', { id: 'c-period', name: 'period' },
      h('option', { value: '', text: t('commitments.ownPeriods') }),
      PERIODS.map((p) => h('option', { value: p, text: tOr(`period.${p}`, p), selected: state.period === p })));
    const from = h('input', { id: 'c-from', type: 'date', name: 'from', value: state.from });
    const to = h('input', { id: 'c-to', type: 'date', name: 'to', value: state.to });
    const form = h('form', { class: 'filters card', attrs: { 'aria-label': t('commitments.filters') } },
      h('div', { class: 'field' }, h('label', { for: 'c-period', text: t('commitments.period') }), period),
      h('div', { class: 'field' }, h('label', { for: 'c-from', text: t('commitments.from') }), from),
      h('div', { class: 'field' }, h('label', { for: 'c-to', text: t('commitments.to') }), to),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: t('ledger.apply') })));
    const apply = (e) => {
      if (e) e.preventDefault();
      Object.assign(state, { period: period.value, from: from.value, to: to.value });
      history.replaceState(null, '', `#/commitments${api.query(state)}`);
      cursor = '';
      shown = [];
      refresh(0);
    };
    form.addEventListener('submit', apply);
    period.addEventListener('change', apply);
    return form;
  }

  async function refresh(minPos, more = false) {
    ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    try {
      const p = { period: state.period, from: state.from, to: state.to };
      const [comp, units] = await Promise.all([
        api.get('/compliance', { params: { ...p, limit: 50, cursor: more ? cursor : '' }, minPos, signal }),
        api.get('/compliance/units', { params: { from: state.from, to: state.to }, minPos, signal }),
      ]);
      shown = more ? shown.concat(comp.commitments || []) : (comp.commitments || []);
      cursor = comp.next_cursor || '';
      today = comp.today;
      renderGrid(comp);
      renderUnits(units);
      if (!logBox.firstChild) renderLog();
    } catch (err) {
      if (err.name !== 'AbortError') replace(grid, errorBox(err));
    }
  }

  function renderGrid(comp) {
    const legend = h('ul', { class: 'legend cells' }, PSTATUSES.map((st) => h('li', null, h('span', { class: `cell period-${st}`, attrs: { 'aria-hidden': 'true' } }), tOr(`pstatus.${st}`, st))));
    const rows = shown.map((c) => {
      const cm = c.commitment;
      return h('li', { class: 'c-row', dataset: { commitment: cm.id } },
        h('div', { class: 'c-head' },
          h('strong', { text: cm.title }),
          h('span', { class: 'muted', text: `${cm.unit_name || cm.unit_id}${cm.person_name ? ` · ${cm.person_name}` : ''}` }),
          h('span', { class: 'muted', text: t('commitments.target', { n: fmtNumber(cm.target), period: tOr(`period.${cm.period}`, cm.period) }) }),
          h('span', { class: 'rate', text: t('commitments.rate', { rate: fmtPercent(c.rate), met: fmtNumber(c.met), missed: fmtNumber(c.missed) }) })),
        h('ol', { class: 'cells', attrs: { 'aria-label': t('commitments.periodsOf', { title: cm.title }) } },
          (c.periods || []).map((p) => {
            const label = `${fmtDate(p.start)} – ${fmtDate(p.end)}: ${fmtNumber(p.actual)} / ${fmtNumber(p.target)} ${tOr(`pstatus.${p.status}`, p.status)}`;
            return h('li', { class: `cell period-${p.status}`, title: label, dataset: { pstatus: p.status, start: p.start },
              attrs: { 'aria-label': label } }, h('span', { attrs: { 'aria-hidden': 'true' }, text: String(p.actual) }));
          })));
    });
    const more = cursor ? h('button', { type: 'button', class: 'secondary', id: 'more-commitments', text: t('commitments.more') }) : null;
    if (more) more.addEventListener('click', () => refresh(0, true));
    replace(grid,
      h('h2', { text: t('commitments.grid') }),
      h('p', { class: 'muted', text: t('commitments.range', { from: fmtDate(comp.from), to: fmtDate(comp.to) }) }),
      legend,
      rows.length ? h('ul', { class: 'c-grid' }, rows) : empty(t('commitments.none')),
      more);
  }

  function renderUnits(units) {
    const rows = (units.units || []).map((u) => [
      u.unit_name || u.unit_id, fmtNumber(u.commitments), fmtNumber(u.met), fmtNumber(u.missed), fmtPercent(u.rate), fmtNumber(u.current_streak),
    ]);
    replace(unitsBox, h('h2', { text: t('commitments.units') }),
      rows.length ? table(null, [t('col.unit'), t('col.commitments'), t('pstatus.met'), t('pstatus.missed'), t('col.rate'), t('col.streak')], rows)
        : empty(t('commitments.none')));
  }

  // The log form lists the commitments the caller may log against.
  async function renderLog() {
    if (!can('log')) return;
    let list = [];
    try {
      const res = await api.get('/commitments', { params: { limit: 200, active_on: today } });
      list = (res.commitments || []).filter((c) => can('log', c.unit_id));
    } catch {
      return;
    }
    if (!list.length) return;
    replace(logBox, actionForm({
      action: 'log',
      title: t('action.log'),
      fields: [
        { name: 'commitment_id', label: t('field.commitment'), type: 'select', required: true, options: list.map((c) => ({ value: c.id, label: `${c.unit_name || c.unit_id} · ${c.title}` })) },
        { name: 'count', label: t('field.count'), type: 'number', min: 1, step: 1, value: 1 },
        { name: 'occurred_on', label: t('field.occurredOn'), type: 'date', required: true },
        { name: 'note', label: t('field.note'), type: 'textarea', wide: true },
      ],
      run: (v, key) => {
        const { commitment_id: cid, ...body } = v;
        if (!cid) return Promise.reject(new api.ApiError(400, { error: { code: 'invalid', message: '', fields: [{ field: 'commitment_id', code: 'required', problem: t('form.required') }] } }));
        return api.post(`/commitments/${encodeURIComponent(cid)}/activities`, body, key);
      },
      done: (reply) => refresh(reply.position),
    }));
  }

  refresh(0);
  return { refresh: (p) => refresh(p), wants: (c) => c.view === 'commitments', destroy: () => ctrl.abort() };
}
