// Sign-in with an API token (rfy_...). The token is checked with GET /me
// before it is kept.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import { loadSession } from '../session.js';

export function mount(root, ctx) {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: false,
    placeholder: 'rfy_…', attrs: { 'aria-describedby': 'token-hint token-error' },
  });
  const remember = h('input', { id: 'remember', name: 'remember', type: 'checkbox' });
  const err = h('p', { class: 'field-error', id: 'token-error', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', text: t('signin.submit') });
  const form = h('form', { id: 'signin', class: 'card signin', noValidate: true },
    h('h1', { text: t('signin.title') }),
    h('p', { class: 'muted', text: t('signin.intro') }),
    h('div', { class: 'field' },
      h('label', { for: 'token', text: t('signin.token') }),
      input,
      h('p', { class: 'hint', id: 'token-hint', text: t('signin.hint') }),
      err),
    h('div', { class: 'field check' }, remember, h('label', { for: 'remember', text: t('signin.remember') })),
    h('div', { class: 'form-actions' }, button));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const tok = input.value.trim();
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    if (!tok) {
      err.textContent = t('signin.missing');
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await loadSession(tok);
      api.setToken(tok, remember.checked);
      await ctx.onSignedIn();
    } catch (ex) {
      err.textContent = ex.status === 401 ? t('signin.rejected') : `${t('error.internal')} ${ex.message || ''}`;
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  root.append(form);
  input.focus();
  return { refresh() {}, wants: () => false, destroy() {} };
}
