// Rankings. The API has no assessments yet (weekly summaries, monthly
// scores, quarterly rankings), so this page says so, and shows instead two
// orderings the API does have, each labelled for what it is: units by the
// share of their items closed, and units by commitment compliance.

import { h, replace } from '../dom.js';
import { t, fmtNumber, fmtPercent } from '../i18n.js';
import * as api from '../api.js';
import { bar } from '../chart.js';
import { pageHeader, errorBox, table, empty } from '../widgets.js';

export function mount(root) {
  const progress = h('section', { class: 'card', id: 'rank-progress' });
  const compliance = h('section', { class: 'card', id: 'rank-compliance' });
  root.append(pageHeader(t('rankings.title')),
    h('p', { class: 'notice', id: 'rankings-notice', attrs: { role: 'note' }, text: t('rankings.notAvailable') }),
    progress, compliance);
  let ctrl = new AbortController();

  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    try {
      const [sum, units] = await Promise.all([
        api.get('/progress/summary', { minPos, signal }),
        api.get('/compliance/units', { params: { sort: 'rate' }, minPos, signal }),
      ]);
      renderProgress(sum);
      renderCompliance(units);
    } catch (err) {
      if (err.name !== 'AbortError') replace(progress, errorBox(err));
    }
  }

  function renderProgress(sum) {
    // Units with items of their own, best closed share first, then fewer
    // overdue, then name.
    const list = (sum.units || []).filter((u) => u.own.total - u.own.withdrawn > 0)
      .map((u) => ({ u, share: u.own.closed_share ?? 0 }))
      .sort((a, b) => b.share - a.share || a.u.own.overdue - b.u.own.overdue || a.u.name.localeCompare(b.u.name));
    const rows = list.map(({ u, share }, i) => ({
      attrs: { dataset: { unit: u.unit_id } },
      cells: [fmtNumber(i + 1), u.name,
        h('span', { class: 'progress' }, bar(share, fmtPercent(share)), h('span', { text: fmtPercent(share) })),
        `${fmtNumber(u.own.closed)} / ${fmtNumber(u.own.total - u.own.withdrawn)}`, fmtNumber(u.own.overdue)],
    }));
    replace(progress, h('h2', { text: t('rankings.byProgress') }), h('p', { class: 'muted', text: t('rankings.byProgressNote') }),
      rows.length ? table(null, [t('col.order'), t('col.unit'), t('col.closedShare'), t('col.closedOfTotal'), t('col.overdue')], rows) : empty(t('overview.noUnits')));
  }

  function renderCompliance(units) {
    const rows = (units.units || []).map((u, i) => [fmtNumber(i + 1), u.unit_name || u.unit_id, fmtPercent(u.rate),
      `${fmtNumber(u.met)} / ${fmtNumber(u.met + u.missed)}`, fmtNumber(u.current_streak)]);
    replace(compliance, h('h2', { text: t('rankings.byCompliance') }), h('p', { class: 'muted', text: t('rankings.byComplianceNote') }),
      rows.length ? table(null, [t('col.order'), t('col.unit'), t('col.rate'), t('col.metOfDue'), t('col.streak')], rows) : empty(t('commitments.none')));
  }

  refresh(0);
  return { refresh, wants: (c) => c.view === 'ledger' || c.view === 'commitments', destroy: () => ctrl.abort() };
}
