// Import an annual work report (导入述职报告): the report's text (a file or
// pasted) becomes a draft, which writes nothing; the person reviews it
// here — titles, rows to drop, the unit and owner of each row, the cycle
// and the dates — and confirms, which writes the whole import as one
// command. The server is the judge of the review: its 400 names problems
// "<entry>.<field>" (p2.title, c3.period, assign.cycle_id), and each is
// shown next to the field or on the row it names.
//
// One idempotency key is held per review, as the action forms do: a retry
// after a network failure reuses it, so the import is written once; a
// definite answer starts a new one.

import { h, replace, uid } from '../dom.js';
import { t, tOr, fmtNumber } from '../i18n.js';
import * as api from '../api.js';
import { session, isAdmin, unitOptions } from '../session.js';
import { pageHeader, errorBox, table, empty } from '../widgets.js';
import { problemText } from '../problems.js';

const PERIODS = ['week', 'month', 'quarter'];

export function mount(root) {
  root.append(pageHeader(t('import.title')));
  if (!isAdmin()) {
    root.append(errorBox({ code: 'forbidden' }));
    return { refresh: () => {}, wants: () => false, destroy: () => {} };
  }
  const readBox = h('section', { class: 'card', id: 'import-read' });
  const reviewBox = h('div', { id: 'import-review' });
  const resultBox = h('section', { class: 'card', id: 'import-result', hidden: true, tabIndex: -1, attrs: { 'aria-live': 'polite' } });
  root.append(h('p', { class: 'muted', text: t('import.intro') }), readBox, reviewBox, resultBox);
  replace(readBox, readForm((review) => showReview(review)));

  function showReview(review) {
    resultBox.hidden = true;
    replace(reviewBox, reviewForm(review, (reply) => {
      replace(reviewBox);
      replace(resultBox, result(reply, () => {
        resultBox.hidden = true;
        replace(readBox, readForm((r) => showReview(r)));
        readBox.hidden = false;
      }));
      resultBox.hidden = false;
      readBox.hidden = true;
      resultBox.focus();
    }));
  }

  return { refresh: () => {}, wants: () => false, destroy: () => {} };
}

// readForm asks for the report: a file, or its text pasted.
function readForm(done) {
  const file = h('input', { type: 'file', id: 'import-file', name: 'file', accept: '.txt,text/plain' });
  const text = h('textarea', { id: 'import-text', name: 'text', rows: 6 });
  const error = h('p', { class: 'form-error', id: 'import-read-error', attrs: { role: 'alert' }, hidden: true });
  const status = h('p', { class: 'form-status', attrs: { role: 'status' } });
  const button = h('button', { type: 'submit', class: 'primary', id: 'import-read-submit', text: t('import.read') });
  const form = h('form', { class: 'action-form', noValidate: true },
    h('div', { class: 'field wide' }, h('label', { for: 'import-file', text: t('import.file') }), file),
    h('div', { class: 'field wide' }, h('label', { for: 'import-text', text: t('import.paste') }), text),
    error, h('div', { class: 'form-actions' }, button, status));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    let body;
    let ctype = '';
    if (file.files && file.files[0]) {
      body = new FormData();
      body.append('file', file.files[0]);
    } else if (text.value.trim() !== '') {
      body = text.value;
      ctype = 'text/plain; charset=utf-8';
    } else {
      error.textContent = t('import.noInput');
      error.hidden = false;
      return;
    }
    button.disabled = true;
    status.textContent = t('import.reading');
    try {
      done(await api.postBody('/imports/report', body, ctype));
      status.textContent = '';
    } catch (err) {
      status.textContent = '';
      error.textContent = [tOr(`error.${err.code}`, t('error.internal')), err.message,
        ...(err.fields || []).map((f) => `${f.field}: ${problemText(f)}`)].join(' ');
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return [h('h2', { text: t('import.file') }), form];
}

// reviewForm shows the draft with everything the person may settle, and
// confirms it.
function reviewForm(review, done) {
  const d = review.draft;
  const a = review.assign;
  const slots = new Map(); // field name the server uses -> {el, control}
  const rows = new Map(); // entry key -> row error slot
  let key = api.newKey();

  // slot is the place of the problems the server names field, next to
  // control, which it describes.
  const slot = (name, control) => {
    const el = h('p', { class: 'field-error', id: uid('import-err'), hidden: true });
    slots.set(name, { el, control });
    if (control) control.setAttribute('aria-describedby', el.id);
    return el;
  };
  const field = (id, label, control, name, hint) => {
    control.id = id;
    return h('div', { class: 'field' }, h('label', { for: id, text: label }), control,
      hint ? h('p', { class: 'hint', text: hint }) : null, slot(name, control));
  };
  const dateInput = (v) => h('input', { type: 'date', value: v || '' });

  // ---- where it goes ----
  const open = session.cycles.filter((c) => !c.closed);
  const cycle = h('select', null, h('option', { value: '', text: t('form.choose') }),
    open.map((c) => h('option', { value: c.id, text: c.name, selected: c.id === a.cycle_id })));
  const units = session.units.filter((u) => !u.retired);
  const unit = h('select', null, h('option', { value: '', text: t('form.choose') }),
    unitOptions(units).map((o) => h('option', { value: o.value, text: o.label, selected: o.value === a.unit_id })));
  const owner = h('input', { type: 'text', value: a.owner_name || '', maxLength: 100, autocomplete: 'off' });
  const deadline = dateInput(a.deadline);
  const start = dateInput(a.start);
  const end = dateInput(a.end);
  const counts = t('import.summary', { title: d.title || '—', encoding: d.encoding, lines: fmtNumber(d.lines) });
  const assignBox = h('section', { class: 'card', id: 'import-assign' },
    h('h2', { text: t('import.assign') }),
    h('p', { class: 'muted', id: 'import-summary', text: counts }),
    d.warnings && d.warnings.length
      ? h('div', { class: 'notice' }, h('p', { text: t('import.warnings') }), h('ul', null, d.warnings.map((w) => h('li', { text: w })))) : null,
    h('div', { class: 'action-form' },
      field('import-cycle', t('import.cycle'), cycle, 'assign.cycle_id'),
      field('import-unit', t('import.unit'), unit, 'assign.unit_id'),
      field('import-owner', t('import.owner'), owner, 'assign.owner_name'),
      field('import-deadline', t('import.deadline'), deadline, 'assign.deadline'),
      field('import-start', t('import.start'), start, 'assign.start'),
      field('import-end', t('import.end'), end, 'assign.end')));

  // ---- rows ----
  const unitSelect = () => h('select', { class: 'row-unit' }, h('option', { value: '', text: t('import.defaultUnit') }),
    unitOptions(units).map((o) => h('option', { value: o.value, text: o.label })));
  const keep = (k) => h('input', { type: 'checkbox', class: 'keep', checked: true, attrs: { 'aria-label': t('import.keepRow', { key: k }) } });
  const cell = (control, name) => h('div', { class: 'field' }, control, slot(name, control));
  const line = (n) => h('span', { class: 'muted', text: t('import.line', { n: fmtNumber(n) }) });
  const rowError = (k) => {
    const el = h('p', { class: 'field-error row-error', hidden: true });
    rows.set(k, el);
    return el;
  };
  const excerpt = (n, text) => h('li', null, line(n), ' ', text);

  const itemRows = d.items.map((it) => {
    const c = { keep: keep(it.key), title: h('input', { type: 'text', class: 'row-title', value: it.title, maxLength: 200 }),
      unit: unitSelect(), owner: h('input', { type: 'text', class: 'row-owner', maxLength: 100, autocomplete: 'off' }) };
    c.title.setAttribute('aria-label', `${it.key} ${t('import.col.title')}`);
    c.unit.setAttribute('aria-label', `${it.key} ${t('import.col.unit')}`);
    c.owner.setAttribute('aria-label', `${it.key} ${t('import.col.owner')}`);
    const detail = h('div', { class: 'row-detail' },
      h('p', { class: 'source', text: it.text }),
      it.causes && it.causes.length ? [h('p', { class: 'muted', text: t('import.causes') }), h('ul', null, it.causes.map((x) => h('li', { text: x })))] : null,
      it.measures && it.measures.length
        ? [h('p', { class: 'muted', text: t('import.measures') }), h('ul', { class: 'row-measures' }, it.measures.map((m) => excerpt(m.line, m.text)))] : null);
    return { key: it.key, c, attrs: { dataset: { key: it.key } },
      cells: [c.keep, line(it.line), [cell(c.title, `${it.key}.title`), rowError(it.key)], detail,
        cell(c.unit, `${it.key}.unit_id`), cell(c.owner, `${it.key}.owner_name`)] };
  });

  const unmatchedRows = (d.unmatched || []).map((m) => {
    const attach = h('select', { class: 'row-attach', attrs: { 'aria-label': `${m.key} ${t('import.col.attach')}` } },
      h('option', { value: '', text: t('import.leaveOut') }),
      d.items.map((it) => h('option', { value: it.key, text: `${it.key} ${it.title}` })));
    return { key: m.key, c: { attach }, attrs: { dataset: { key: m.key } },
      cells: [line(m.line), [h('span', { text: m.text }), rowError(m.key)], cell(attach, `${m.key}.item`)] };
  });

  const commitmentRows = d.commitments.map((cm) => {
    const l = cm.ledger || {};
    const c = {
      keep: keep(cm.key),
      title: h('input', { type: 'text', class: 'row-title', value: cm.title, maxLength: 200 }),
      target: h('input', { type: 'number', class: 'row-target', min: 1, step: 1, value: l.target ? String(l.target) : '' }),
      period: h('select', { class: 'row-period' }, h('option', { value: '', text: t('form.choose') }),
        PERIODS.map((p) => h('option', { value: p, text: tOr(`period.${p}`, p), selected: l.period === p }))),
      unit: unitSelect(),
      person: h('input', { type: 'text', class: 'row-person', maxLength: 100, autocomplete: 'off' }),
    };
    for (const [k, label] of [['title', 'import.col.title'], ['target', 'import.col.target'], ['period', 'import.col.period'],
      ['unit', 'import.col.unit'], ['person', 'import.col.person']]) c[k].setAttribute('aria-label', `${cm.key} ${t(label)}`);
    const detail = h('div', { class: 'row-detail' },
      h('p', { class: 'source', text: cm.text }),
      h('p', { class: 'muted', text: [cm.activity, cm.target_text].filter(Boolean).join(' · ') }),
      l.confirm || l.note ? h('p', { class: l.confirm ? 'check' : 'muted', text: [l.confirm ? t('import.check') : '', l.note || ''].filter(Boolean).join(': ') }) : null);
    return { key: cm.key, c, attrs: { dataset: { key: cm.key } },
      cells: [c.keep, line(cm.line), [cell(c.title, `${cm.key}.title`), rowError(cm.key)], detail,
        cell(c.target, `${cm.key}.target`), cell(c.period, `${cm.key}.period`),
        cell(c.unit, `${cm.key}.unit_id`), cell(c.person, `${cm.key}.person_name`)] };
  });

  const keepCol = t('import.col.keep');
  const lineCol = t('import.col.line');
  const sections = [
    h('section', { class: 'card', id: 'import-items' }, h('h2', { text: t('import.items', { n: fmtNumber(d.items.length) }) }),
      itemRows.length ? table(null, [keepCol, lineCol, t('import.col.title'), t('import.col.detail'), t('import.col.unit'), t('import.col.owner')],
        itemRows, { className: 'import-items' }) : empty(t('import.empty'))),
    unmatchedRows.length ? h('section', { class: 'card', id: 'import-unmatched' },
      h('h2', { text: t('import.unmatched', { n: fmtNumber(unmatchedRows.length) }) }),
      table(null, [lineCol, t('import.col.text'), t('import.col.attach')], unmatchedRows, { className: 'import-unmatched' })) : null,
    h('section', { class: 'card', id: 'import-commitments' }, h('h2', { text: t('import.commitments', { n: fmtNumber(d.commitments.length) }) }),
      commitmentRows.length ? table(null, [keepCol, lineCol, t('import.col.title'), t('import.col.detail'), t('import.col.target'),
        t('import.col.period'), t('import.col.unit'), t('import.col.person')], commitmentRows, { className: 'import-commitments' }) : empty(t('import.empty'))),
    d.skipped && d.skipped.length ? h('details', { class: 'card', id: 'import-skipped' },
      h('summary', { text: t('import.skipped', { n: fmtNumber(d.skipped.length) }) }),
      h('ul', null, d.skipped.map((s) => h('li', null, line(s.line), ' ',
        h('span', { class: 'chip', text: tOr(`skip.${s.reason}`, s.reason) }), ' ', s.text)))) : null,
  ];

  const formError = h('div', { class: 'form-error', id: 'import-error', attrs: { role: 'alert' }, hidden: true });
  const status = h('p', { class: 'form-status', attrs: { role: 'status' } });
  const confirm = h('button', { type: 'submit', class: 'primary', id: 'import-confirm', text: t('import.confirm') });
  const form = h('form', { id: 'import-form', noValidate: true }, assignBox, sections,
    h('div', { class: 'card form-actions' }, confirm, status, formError));
  // Any edit makes the review another request, and settles the problem
  // shown beside the field edited.
  const edited = (e) => {
    key = api.newKey();
    for (const { el, control } of slots.values()) {
      if (control === e.target) {
        el.hidden = true;
        control.removeAttribute('aria-invalid');
      }
    }
  };
  form.addEventListener('input', edited);
  form.addEventListener('change', edited);

  // collect is the review as the person left it.
  function collect() {
    const r = structuredClone(review);
    const as = r.assign;
    const val = (el) => el.value.trim() || undefined;
    as.cycle_id = cycle.value;
    as.unit_id = unit.value;
    as.owner_name = val(owner);
    as.deadline = val(deadline);
    as.start = val(start);
    as.end = val(end);
    as.entries = [];
    itemRows.forEach((row, i) => {
      r.draft.items[i].title = row.c.title.value.trim();
      as.entries.push({ key: row.key, drop: !row.c.keep.checked, unit_id: val(row.c.unit), owner_name: val(row.c.owner) });
    });
    unmatchedRows.forEach((row) => {
      const to = row.c.attach.value;
      as.entries.push(to ? { key: row.key, item: to } : { key: row.key, drop: true });
    });
    commitmentRows.forEach((row, i) => {
      r.draft.commitments[i].title = row.c.title.value.trim();
      const target = row.c.target.value.trim();
      // A count and period shown here are the person's: sent as set, so
      // that a proposal to confirm is confirmed by confirming the page.
      as.entries.push({ key: row.key, drop: !row.c.keep.checked, unit_id: val(row.c.unit), person_name: val(row.c.person),
        period: val(row.c.period), target: target === '' ? undefined : Number(target) });
    });
    return r;
  }

  function clearErrors() {
    formError.hidden = true;
    replace(formError);
    for (const { el, control } of slots.values()) {
      el.hidden = true;
      el.textContent = '';
      if (control) control.removeAttribute('aria-invalid');
    }
    for (const el of rows.values()) {
      el.hidden = true;
      el.textContent = '';
    }
  }

  // showError puts each problem next to its field, or on its row, or in
  // the list under the button when it names neither.
  function showError(err) {
    const loose = [];
    let first = null;
    for (const fe of err.fields || []) {
      const s = slots.get(fe.field);
      if (s) {
        s.el.textContent = problemText(fe);
        s.el.hidden = false;
        if (s.control) {
          s.control.setAttribute('aria-invalid', 'true');
          first = first || s.control;
        }
        continue;
      }
      const [entry] = fe.field.replace(/^entries\./, '').split(/\.(?=[a-z_]+$)/);
      const row = rows.get(entry) || rows.get(entry.split('.')[0]);
      if (row) {
        row.textContent = [row.textContent, `${fe.field}: ${problemText(fe)}`].filter(Boolean).join(' ');
        row.hidden = false;
        continue;
      }
      loose.push(`${fe.field}: ${problemText(fe)}`);
    }
    const head = tOr(`error.${err.code}`, t('error.internal'));
    replace(formError, h('p', { text: head }), err.fields && err.fields.length ? null : h('p', { text: err.message }),
      loose.length ? h('ul', null, loose.map((x) => h('li', { text: x }))) : null);
    formError.hidden = false;
    if (first) first.focus();
  }

  let busy = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    busy = true;
    confirm.disabled = true;
    form.setAttribute('aria-busy', 'true');
    status.textContent = t('import.sending');
    clearErrors();
    try {
      const reply = await api.post('/imports/report/confirm', collect(), key);
      key = api.newKey();
      status.textContent = '';
      done(reply);
    } catch (err) {
      status.textContent = '';
      if (err.status !== 0) key = api.newKey();
      showError(err);
    } finally {
      busy = false;
      confirm.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

// result lists what the import created, each item a link to its page.
function result(reply, again) {
  const measures = reply.items.reduce((n, it) => n + (it.measures || []).length, 0);
  const more = h('button', { type: 'button', class: 'secondary', id: 'import-again', text: t('import.again') });
  more.addEventListener('click', again);
  return [
    h('h2', { text: t('import.done') }),
    h('p', { id: 'import-counts', text: t('import.result', {
      items: fmtNumber(reply.items.length), measures: fmtNumber(measures), commitments: fmtNumber(reply.commitments.length) }) }),
    reply.items.length ? h('h3', { text: t('import.items', { n: fmtNumber(reply.items.length) }) }) : null,
    reply.items.length ? h('ul', { class: 'import-created' }, reply.items.map((it) => h('li', null,
      h('a', { class: 'import-item', href: `#/items/${encodeURIComponent(it.id)}`, dataset: { entry: it.entry }, text: it.title }),
      ' ', h('span', { class: 'muted', text: it.source || '' })))) : null,
    reply.commitments.length ? h('h3', { text: t('import.commitments', { n: fmtNumber(reply.commitments.length) }) }) : null,
    reply.commitments.length ? h('ul', { class: 'import-created' }, reply.commitments.map((c) => h('li', null,
      h('a', { href: '#/commitments', text: c.title }), ' ', h('span', { class: 'muted', text: c.source || '' })))) : null,
    more,
  ];
}
