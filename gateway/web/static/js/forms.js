// Action forms: one <details> per command, a real <form> inside with
// labelled fields. The API is the judge of the input (the forms do not
// validate in the browser, novalidate): its 400 reply names the bad
// fields, and each problem is shown next to the field it names, in the
// reader's language (problems.js).
//
// Each form holds one idempotency key. While a submission is in flight the
// button is disabled and a second submit is ignored; a retry after a
// network failure reuses the key, so the command is written once whatever
// happens. A definite answer (success or an error reply) starts a new key.

import { h, uid } from './dom.js';
import { t } from './i18n.js';
import { ApiError, newKey } from './api.js';
import { problemText } from './problems.js';

// actionForm builds a form for one command. spec: action (a name, also
// data-action), title, fields [{name, label, type, required, options,
// min, max, step, value, hint, accept}], submitLabel, open, run(values,
// key) -> command reply, done(reply).
export function actionForm(spec) {
  const formId = uid(`f-${spec.action}`);
  const controls = new Map();
  const errors = new Map();
  const rows = spec.fields.map((f) => field(formId, f, controls, errors));
  const formError = h('p', { class: 'form-error', id: `${formId}-error`, attrs: { role: 'alert' }, hidden: true });
  const status = h('p', { class: 'form-status', attrs: { role: 'status' } });
  const button = h('button', { type: 'submit', class: 'primary', text: spec.submitLabel || t('form.submit') });
  const form = h('form', { id: formId, noValidate: true, class: 'action-form', dataset: { action: spec.action } },
    rows, formError, h('div', { class: 'form-actions' }, button, status));
  let key = newKey();
  let busy = false;

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = '';
    for (const [name, el] of errors) {
      el.textContent = '';
      delete el.dataset.code;
      el.hidden = true;
      const c = controls.get(name);
      if (c) c.removeAttribute('aria-invalid');
    }
  }

  function showError(err) {
    let placed = 0;
    const loose = [];
    for (const fe of err.fields || []) {
      const el = errors.get(fe.field);
      if (el) {
        el.textContent = problemText(fe);
        el.dataset.code = fe.code || '';
        el.hidden = false;
        controls.get(fe.field).setAttribute('aria-invalid', 'true');
        placed += 1;
      } else {
        loose.push(`${fe.field}: ${problemText(fe)}`);
      }
    }
    if (placed === 0 || loose.length > 0) {
      const head = t(`error.${err.code}`) === `error.${err.code}` ? t('error.internal') : t(`error.${err.code}`);
      formError.textContent = [head, err.fields.length ? '' : err.message, ...loose].filter(Boolean).join(' ');
      formError.hidden = false;
    }
    const first = (err.fields || []).map((fe) => controls.get(fe.field)).find(Boolean);
    if (first) first.focus();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    busy = true;
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    status.textContent = t('form.sending');
    clearErrors();
    try {
      const reply = await spec.run(values(spec.fields, controls), key);
      key = newKey();
      form.reset();
      status.textContent = t('form.saved');
      if (spec.done) await spec.done(reply);
    } catch (err) {
      status.textContent = '';
      if (err instanceof ApiError) {
        if (err.status !== 0) key = newKey();
        showError(err);
      } else {
        showError(new ApiError(0, { error: { message: String(err && err.message) } }));
      }
    } finally {
      busy = false;
      button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  const details = h('details', { class: 'action', dataset: { action: spec.action }, open: Boolean(spec.open) },
    h('summary', { text: spec.title }), form);
  return details;
}

function field(formId, f, controls, errors) {
  const id = `${formId}-${f.name}`;
  const errId = `${id}-error`;
  const hintId = f.hint ? `${id}-hint` : null;
  const described = [hintId, errId].filter(Boolean).join(' ');
  let control;
  const common = { id, name: f.name, attrs: { 'aria-describedby': described, 'aria-required': f.required ? 'true' : null } };
  switch (f.type) {
    case 'textarea':
      control = h('textarea', { ...common, rows: 3, maxLength: f.maxLength || null });
      break;
    case 'select':
      control = h('select', common,
        f.required ? null : h('option', { value: '', text: t('form.choose') }),
        (f.options || []).map((o) => h('option', { value: o.value, text: o.label })));
      break;
    case 'checkbox':
      control = h('input', { ...common, type: 'checkbox' });
      break;
    default:
      control = h('input', {
        ...common,
        type: f.type || 'text',
        min: f.min ?? null,
        max: f.max ?? null,
        step: f.step ?? null,
        accept: f.accept || null,
        autocomplete: 'off',
      });
  }
  if (f.value != null) {
    if (f.type === 'checkbox') control.checked = Boolean(f.value);
    else control.value = f.value;
    control.defaultValue = control.value;
    if (f.type === 'select') for (const o of control.options) o.defaultSelected = o.value === String(f.value);
  }
  controls.set(f.name, control);
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  errors.set(f.name, err);
  const label = h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', attrs: { 'aria-hidden': 'true' }, text: ' *' }) : null);
  return h('div', { class: ['field', f.type === 'checkbox' && 'check', f.wide && 'wide'], dataset: { field: f.name } },
    f.type === 'checkbox' ? [control, label] : [label, control],
    f.hint ? h('p', { class: 'hint', id: hintId, text: f.hint }) : null,
    err);
}

// values reads the form: numbers as numbers, empty fields left out, a
// file input as its File.
function values(fields, controls) {
  const out = {};
  for (const f of fields) {
    const c = controls.get(f.name);
    if (f.type === 'checkbox') {
      out[f.name] = c.checked;
    } else if (f.type === 'file') {
      if (c.files && c.files[0]) out[f.name] = c.files[0];
    } else if (f.type === 'number') {
      if (c.value.trim() !== '') out[f.name] = Number(c.value);
    } else if (c.value.trim() !== '') {
      out[f.name] = c.value.trim();
    }
  }
  return out;
}
