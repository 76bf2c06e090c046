// The activity feed (操作记录): every change in the caller's scope, newest
// first, with who, when, and each field before and after. New changes come
// in at the top as they happen.

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import { unitOptions } from '../session.js';
import { pageHeader, errorBox, auditEntry, empty } from '../widgets.js';

export function mount(root, ctx) {
  let unit = ctx.query.get('unit_id') || '';
  let entries = [];
  let cursor = '';
  let ctrl = new AbortController();
  const list = h('ol', { class: 'entries feed', id: 'feed', attrs: { 'aria-live': 'polite' } });
  const more = h('button', { type: 'button', class: 'secondary', id: 'feed-more', text: t('activity.more'), hidden: true });
  const status = h('div');
  const sel = h('select', { id: 'feed-unit' }, h('option', { value: '', text: t('ledger.any') }),
    unitOptions().map((o) => h('option', { value: o.value, text: o.label, selected: o.value === unit })));
  sel.addEventListener('change', () => {
    unit = sel.value;
    history.replaceState(null, '', `#/activity${api.query({ unit_id: unit })}`);
    entries = [];
    refresh(0);
  });
  root.append(pageHeader(t('activity.title')),
    h('div', { class: 'filters card' }, h('div', { class: 'field' }, h('label', { for: 'feed-unit', text: t('col.unit') }), sel)),
    status, list, more);

  // refresh reads the newest page and puts the entries not shown yet on
  // top; what was loaded further down stays.
  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    try {
      const res = await api.get('/audit', { params: { unit_id: unit, limit: 50 }, minPos, signal: ctrl.signal });
      const top = entries.length ? entries[0].position : 0;
      const fresh = (res.entries || []).filter((e) => e.position > top || !entries.length);
      if (!entries.length) cursor = res.next_cursor || '';
      entries = fresh.concat(entries);
      render();
    } catch (err) {
      if (err.name !== 'AbortError') replace(status, errorBox(err));
    }
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const res = await api.get('/audit', { params: { unit_id: unit, limit: 50, cursor } });
      entries = entries.concat(res.entries || []);
      cursor = res.next_cursor || '';
      render();
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', loadMore);

  function render() {
    replace(status);
    replace(list, entries.length ? entries.map((e) => auditEntry(e, { showTarget: true })) : h('li', null, empty(t('activity.none'))));
    more.hidden = !cursor;
  }

  refresh(0);
  return { refresh, wants: (c) => c.view === 'audit', destroy: () => ctrl.abort() };
}
