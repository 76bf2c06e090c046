// One item: its facts, measures, evidence and progress, the full timeline
// of who did what and when, a slider showing the item as it stood on any
// past day (the as-of API), and the action forms the caller's roles allow
// in the item's current status.

import { h, replace, debounce } from '../dom.js';
import { t, tOr, currentLang, fmtDate, fmtDateTime, fmtNumber, fmtBytes } from '../i18n.js';
import * as api from '../api.js';
import { session, can, unitOptions } from '../session.js';
import { actionForm } from '../forms.js';
import { errorText } from '../problems.js';
import { bar } from '../chart.js';
import { errorBox, statusChip, ragChip, escalationChip, auditEntry, empty } from '../widgets.js';

const OPEN = ['raised', 'assigned', 'in_progress', 'submitted'];
const WORK = ['raised', 'assigned', 'in_progress'];
const DAY = 86400000;
// Days of the API are days in China Standard Time.
const CST = '+08:00';

function dayIndex(day) {
  const [y, m, d] = day.split('-').map(Number);
  return Date.UTC(y, m - 1, d) / DAY;
}

function dayOf(index) {
  return new Date(index * DAY).toISOString().slice(0, 10);
}

export function mount(root, ctx) {
  const id = ctx.params.id;
  const path = `/items/${encodeURIComponent(id)}`;
  let ctrl = new AbortController();
  let item = null;
  let actionsKey = '';

  const head = h('div', { class: 'page-head item-head' });
  const facts = h('section', { class: 'card', id: 'facts' });
  const measures = h('section', { class: 'card', id: 'measures' });
  const evidence = h('section', { class: 'card', id: 'evidence' });
  const asof = h('section', { class: 'card', id: 'asof' });
  const timeline = h('section', { class: 'card', id: 'timeline' });
  const actions = h('aside', { class: 'actions', id: 'actions', attrs: { 'aria-label': t('item.actions') } });
  const back = h('p', { class: 'back' }, h('a', { href: '#/ledger', text: `← ${t('item.back')}` }));
  root.append(back, head, h('div', { class: 'item-grid' },
    h('div', { class: 'item-main' }, facts, measures, evidence, asof, timeline), actions));

  const slider = h('input', { type: 'range', id: 'asof-day', min: 0, max: 0, step: 1, value: 0, attrs: { 'aria-describedby': 'asof-hint' } });
  const sliderOut = h('output', { id: 'asof-date', for: 'asof-day' });
  const asofBody = h('div', { id: 'asof-state', attrs: { 'aria-live': 'polite' } });
  const latestBtn = h('button', { type: 'button', class: 'secondary', id: 'asof-latest', text: t('item.asofLatest') });
  replace(asof,
    h('h2', { text: t('item.asof') }),
    h('div', { class: 'field slider' }, h('label', { for: 'asof-day', text: t('item.asofDay') }), slider, sliderOut),
    h('p', { class: 'hint', id: 'asof-hint', text: t('item.asofHint') }),
    latestBtn, asofBody);
  let asofCtrl = new AbortController();
  let firstDay = 0;
  // The as-of answer comes from the audit view: it must have seen what
  // the page shows, so it is asked with the same minimum position.
  let asofMinPos = 0;

  const loadAsOf = debounce(async () => {
    asofCtrl.abort();
    asofCtrl = new AbortController();
    const day = dayOf(firstDay + Number(slider.value));
    try {
      const res = await api.get(path, { params: { as_of: `${day}T23:59:59${CST}` }, minPos: asofMinPos, signal: asofCtrl.signal });
      replace(asofBody, asofView(res, day));
    } catch (err) {
      if (err.name !== 'AbortError') replace(asofBody, errorBox(err));
    }
  }, 150);
  slider.addEventListener('input', () => {
    sliderOut.textContent = fmtDate(dayOf(firstDay + Number(slider.value)));
    loadAsOf();
  });
  latestBtn.addEventListener('click', () => {
    slider.value = slider.max;
    slider.dispatchEvent(new Event('input'));
  });

  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    try {
      const [it, entries] = await Promise.all([api.get(path, { minPos, signal }), loadTimeline(minPos, signal)]);
      item = it;
      asofMinPos = Math.max(minPos || 0, it.updated_position || 0);
      render(entries);
    } catch (err) {
      if (err.name === 'AbortError') return;
      replace(head, h('h1', { text: t('item.title') }));
      replace(facts, errorBox(err));
    }
  }

  async function loadTimeline(minPos, signal) {
    const out = [];
    let cursor = '';
    // An item's history is tens of events; five pages of 200 is plenty.
    for (let i = 0; i < 5; i += 1) {
      const res = await api.get(`${path}/timeline`, { params: { limit: 200, cursor }, minPos, signal });
      out.push(...(res.entries || []));
      cursor = res.next_cursor || '';
      if (!cursor) break;
    }
    return out;
  }

  function render(entries) {
    const it = item;
    document.title = `${it.title} · ${t('app.name')}`;
    replace(head,
      h('h1', { id: 'item-title', text: it.title }),
      h('div', { class: 'chips' }, statusChip(it.status), ragChip(it.rag), escalationChip(it.escalation)),
      h('p', { class: 'muted' }, `${it.id} · ${it.unit_name || it.unit_id} · ${it.cycle_name || it.cycle_id}`));
    replace(facts, h('h2', { text: t('item.facts') }), factsList(it));
    replace(measures, h('h2', { text: t('item.measures') }), measureList(it, refresh));
    replace(evidence, h('h2', { text: t('item.evidence') }), evidenceList(it, path));
    replace(timeline, h('h2', { text: t('item.timeline') }),
      entries.length ? h('ol', { class: 'entries', id: 'timeline-list' }, entries.map((e) => auditEntry(e))) : empty(t('item.noTimeline')));

    // The slider spans the days from the item's raising to today; it stays
    // where the person put it, or follows today when it was at the end.
    const atEnd = Number(slider.value) === Number(slider.max);
    firstDay = dayIndex(it.raised_on);
    const span = Math.max(0, dayIndex(it.today) - firstDay);
    slider.max = String(span);
    if (atEnd || Number(slider.value) > span) slider.value = String(span);
    sliderOut.textContent = fmtDate(dayOf(firstDay + Number(slider.value)));
    loadAsOf();

    // Rebuild the forms only when what they offer changes, so that a live
    // update does not wipe what someone is typing.
    const key = [it.status, it.unit_id, (it.measures || []).map((m) => `${m.id}:${m.done}`).join(',')].join('|');
    if (key !== actionsKey) {
      actionsKey = key;
      replace(actions, actionForms(it, path, (reply) => refresh(reply.position)));
    }
  }

  refresh(0);
  return {
    refresh,
    wants: (c) => (c.view === 'ledger' && c.key === `item:${id}`) || (c.view === 'audit' && c.key === `item-${id}`),
    destroy: () => {
      ctrl.abort();
      asofCtrl.abort();
    },
  };
}

function factsList(it) {
  const row = (key, value) => (value == null || value === '' ? null : [h('dt', { text: t(key) }), h('dd', null, value)]);
  const days = it.days_left == null ? null
    : it.days_left < 0 ? h('span', { class: 'overdue', text: t('item.daysOverdue', { n: fmtNumber(-it.days_left) }) })
      : t('item.daysLeft', { n: fmtNumber(it.days_left) });
  return [
    h('dl', { class: 'facts' },
      row('field.deadline', fmtDate(it.deadline)),
      row('item.due', days),
      row('item.turnedYellow', it.turned_yellow_at ? fmtDateTime(it.turned_yellow_at) : ''),
      row('item.turnedRed', it.turned_red_at ? fmtDateTime(it.turned_red_at) : ''),
      row('item.escalation', it.escalation ? h('span', { id: 'item-escalation' }, escalationChip(it.escalation), ' ',
        t('item.escalationLine', { step: fmtNumber(it.escalation.step), time: fmtDateTime(it.escalation.at) })) : ''),
      row('field.percent', h('span', { class: 'progress', id: 'item-percent' }, bar(it.percent / 100, `${it.percent}%`), h('span', { text: `${fmtNumber(it.percent)}%` }))),
      row('field.owner', it.owner_name || it.owner_id || '—'),
      row('field.category', it.category),
      row('field.severity', it.severity ? tOr(`severity.${it.severity}`, it.severity) : ''),
      row('field.source', it.source),
      row('item.raisedOn', fmtDate(it.raised_on)),
      row('item.closedOn', it.closed_on ? fmtDate(it.closed_on) : ''),
      row('item.carriedFrom', it.carried_from),
      row('item.lastReason', it.reason ? h('span', { id: 'item-reason', text: it.reason }) : ''),
      row('item.progressNote', it.progress && it.progress.note
        ? `${it.progress.note} (${fmtDateTime(it.progress.reported_at)})` : '')),
    it.description ? h('p', { class: 'description', text: it.description }) : null,
  ];
}

function measureList(it, refresh) {
  const ms = it.measures || [];
  if (!ms.length) return empty(t('item.noMeasures'));
  const mayComplete = WORK.includes(it.status) && can('complete', it.unit_id);
  return h('ul', { class: 'measures' }, ms.map((m) => {
    let done = null;
    if (!m.done && mayComplete) {
      const key = api.newKey();
      const btn = h('button', { type: 'button', class: 'secondary small', text: t('action.complete') });
      const msg = h('span', { class: 'field-error', attrs: { role: 'alert' } });
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          const reply = await api.post(`/items/${encodeURIComponent(it.id)}/measures/${encodeURIComponent(m.id)}/complete`, {}, key);
          await refresh(reply.position);
        } catch (err) {
          msg.textContent = errorText(err);
          btn.disabled = false;
        }
      });
      done = [btn, msg];
    }
    return h('li', { class: m.done ? 'done' : '', dataset: { measure: m.id } },
      h('span', { class: 'mark', attrs: { 'aria-hidden': 'true' }, text: m.done ? '✓' : '○' }),
      h('span', { class: 'sr', text: m.done ? t('item.measureDone') : t('item.measureOpen') }),
      h('span', { class: 'm-text', text: m.text }),
      h('span', { class: 'muted' }, [m.owner_name, m.due ? t('item.dueOn', { day: fmtDate(m.due) }) : '',
        m.done && m.completed_on ? t('item.doneOn', { day: fmtDate(m.completed_on) }) : ''].filter(Boolean).join(' · ')),
      m.note ? h('span', { class: 'muted', text: m.note }) : null,
      done);
  }));
}

function evidenceList(it, path) {
  const ev = it.evidence || [];
  if (!ev.length) return empty(t('item.noEvidence'));
  return h('ul', { class: 'evidence' }, ev.map((e) => {
    const btn = h('button', { type: 'button', class: 'secondary small', text: t('item.download') });
    btn.setAttribute('aria-label', `${t('item.download')} ${e.name}`);
    btn.addEventListener('click', () => {
      api.download(`${path}/evidence/${encodeURIComponent(e.id)}`, e.name).catch((err) => { btn.title = err.message; });
    });
    return h('li', { dataset: { evidence: e.id } },
      h('span', { class: 'e-name', text: e.name }),
      h('span', { class: 'muted', text: `${fmtBytes(e.size)} · ${fmtDateTime(e.uploaded_at)}` }),
      btn);
  }));
}

function asofView(res, day) {
  const it = res.item;
  return h('div', { class: 'asof-view', dataset: { day } },
    h('p', { text: t('item.asofOn', { day: fmtDate(day) }) }),
    h('div', { class: 'chips' }, statusChip(it.status), ragChip(it.rag), escalationChip(it.escalation)),
    h('dl', { class: 'facts' },
      h('dt', { text: t('field.percent') }), h('dd', { id: 'asof-percent', text: `${fmtNumber(it.percent)}%` }),
      h('dt', { text: t('field.deadline') }), h('dd', { text: fmtDate(it.deadline) }),
      h('dt', { text: t('field.owner') }), h('dd', { text: it.owner_name || '—' }),
      h('dt', { text: t('item.measures') }), h('dd', { text: `${fmtNumber(it.measures_done)} / ${fmtNumber(it.measures_total)}` }),
      h('dt', { text: t('item.evidence') }), h('dd', { text: fmtNumber(it.evidence_count) })),
    h('p', { class: 'muted', text: t('item.asofEvents', { n: fmtNumber(res.events), time: fmtDateTime(res.time) }) }));
}

// actionForms lists the forms the caller may use on the item as it stands.
function actionForms(it, path, done) {
  const u = it.unit_id;
  const st = it.status;
  const forms = [];
  const post = (suffix) => (v, key) => api.post(`${path}${suffix}`, v, key);
  if (OPEN.includes(st) && can('assign', u)) {
    const form = actionForm({
      action: 'assign', title: t('action.assign'), done, run: post('/assign'),
      fields: [
        { name: 'unit_id', label: t('field.unit'), type: 'select', required: true, value: u,
          options: unitOptions(session.units.filter((x) => !x.retired && can('assign', x.id))) },
        { name: 'owner_id', label: t('field.owner'), type: 'select', options: [], hint: t('hint.ownerPicker') },
        { name: 'owner_name', label: t('field.ownerName'), hint: t('hint.ownerName') },
      ],
    });
    ownerPicker(form);
    forms.push(form);
  }
  if (WORK.includes(st) && can('plan', u)) {
    forms.push(actionForm({
      action: 'plan', title: t('action.plan'), done, run: post('/measures'),
      fields: [
        { name: 'text', label: t('field.measure'), required: true, wide: true },
        { name: 'owner_name', label: t('field.ownerName') },
        { name: 'due', label: t('field.due'), type: 'date' },
      ],
    }));
  }
  if (WORK.includes(st) && can('progress', u)) {
    forms.push(actionForm({
      action: 'progress', title: t('action.progress'), done, run: post('/progress'),
      fields: [
        { name: 'percent', label: t('field.percent'), type: 'number', min: 0, max: 100, step: 1, hint: t('hint.percent') },
        { name: 'note', label: t('field.note'), type: 'textarea', wide: true },
      ],
    }));
  }
  if (OPEN.includes(st) && can('evidence', u)) {
    forms.push(actionForm({
      action: 'evidence', title: t('action.evidence'), done,
      fields: [{ name: 'file', label: t('field.file'), type: 'file', required: true, hint: t('hint.file') }],
      run: (v, key) => {
        const fd = new FormData();
        if (v.file) fd.append('file', v.file, v.file.name);
        return api.upload(`${path}/evidence`, fd, key);
      },
    }));
  }
  if (st === 'in_progress' && can('submit', u)) {
    forms.push(actionForm({
      action: 'submit', title: t('action.submit'), done, run: post('/submit'),
      fields: [{ name: 'note', label: t('field.note'), type: 'textarea', wide: true }],
    }));
  }
  if (st === 'submitted' && can('verify', u)) {
    forms.push(actionForm({
      action: 'verify', title: t('action.verify'), done, run: post('/verify'),
      fields: [{ name: 'note', label: t('field.note'), type: 'textarea', wide: true }],
    }));
  }
  if (st === 'submitted' && can('reject', u)) {
    forms.push(actionForm({
      action: 'reject', title: t('action.reject'), done, run: post('/reject'),
      fields: [{ name: 'reason', label: t('field.reason'), type: 'textarea', required: true, wide: true }],
    }));
  }
  if (st === 'closed' && can('reopen', u)) {
    forms.push(actionForm({
      action: 'reopen', title: t('action.reopen'), done, run: post('/reopen'),
      fields: [{ name: 'reason', label: t('field.reason'), type: 'textarea', required: true, wide: true }],
    }));
  }
  if (OPEN.includes(st) && can('deadline', u)) {
    forms.push(actionForm({
      action: 'deadline', title: t('action.deadline'), done, run: post('/deadline'),
      fields: [
        { name: 'deadline', label: t('field.newDeadline'), type: 'date', required: true },
        { name: 'reason', label: t('field.reason'), type: 'textarea', required: true, wide: true },
      ],
    }));
  }
  const later = session.cycles.filter((c) => !c.closed && c.id !== it.cycle_id);
  if (OPEN.includes(st) && can('carry', u) && later.length) {
    forms.push(actionForm({
      action: 'carry', title: t('action.carry'), done, run: post('/carry-over'),
      fields: [
        { name: 'to_cycle_id', label: t('field.toCycle'), type: 'select', required: true, options: later.map((c) => ({ value: c.id, label: c.name })) },
        { name: 'reason', label: t('field.reason'), type: 'textarea', wide: true },
      ],
    }));
  }
  if (OPEN.includes(st) && can('withdraw', u)) {
    forms.push(actionForm({
      action: 'withdraw', title: t('action.withdraw'), done, run: post('/withdraw'),
      fields: [{ name: 'reason', label: t('field.reason'), type: 'textarea', required: true, wide: true }],
    }));
  }
  if (!forms.length) return [];
  return [h('h2', { text: t('item.actions') }), forms];
}


// ownerPicker fills the owner list of the assign form with the people of
// the unit chosen (GET /units/{id}/people: those holding a role on it or
// below it), again whenever the unit changes, and puts the name of the
// person picked into the name field, unless someone typed another name
// there. A unit whose people cannot be read leaves the list empty; a name
// alone can still be given.
function ownerPicker(form) {
  const unitSel = form.querySelector('select[name="unit_id"]');
  const ownerSel = form.querySelector('select[name="owner_id"]');
  const nameIn = form.querySelector('input[name="owner_name"]');
  let filled = '';
  let ctrl = new AbortController();
  let people = [];
  const label = (p) => {
    const roles = [...new Set((p.roles || []).map((g) => tOr(`role.${g.role}`, g.role)))];
    return roles.length ? t('picker.person', { name: p.name, roles: new Intl.ListFormat(currentLang()).format(roles) }) : p.name;
  };
  async function load() {
    ctrl.abort();
    ctrl = new AbortController();
    const unit = unitSel.value;
    ownerSel.replaceChildren(h('option', { value: '', text: t('form.choose') }));
    ownerSel.dataset.unit = unit;
    delete ownerSel.dataset.loaded;
    people = [];
    if (!unit) return;
    try {
      const res = await api.get(`/units/${encodeURIComponent(unit)}/people`, { signal: ctrl.signal });
      people = res.people || [];
      ownerSel.append(...people.map((p) => h('option', { value: p.id, text: label(p) })));
      if (!people.length) ownerSel.append(h('option', { value: '', text: t('picker.nobody'), disabled: true }));
    } catch (err) {
      if (err.name === 'AbortError') return;
      ownerSel.append(h('option', { value: '', text: t('picker.cannotList'), disabled: true }));
    }
    ownerSel.dataset.loaded = String(people.length);
  }
  ownerSel.addEventListener('change', () => {
    const p = people.find((x) => x.id === ownerSel.value);
    if (nameIn.value === '' || nameIn.value === filled) {
      filled = p ? p.name : '';
      nameIn.value = filled;
    }
  });
  unitSel.addEventListener('change', load);
  // After a successful assignment the form resets to the item's unit.
  form.querySelector('form').addEventListener('reset', () => {
    filled = '';
    setTimeout(load, 0);
  });
  load();
}
