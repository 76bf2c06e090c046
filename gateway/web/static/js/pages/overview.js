// Overview: the figures of everything in the caller's scope, each unit's
// progress with its red/yellow/green and overdue counts, open versus
// closed items over the last weeks, and this week's commitments. With
// #/?as_of=<time or position:N> in the URL, all of it as it stood then
// (the API's as-of reads), under a banner leading back to now.

import { h, replace } from '../dom.js';
import { t, tOr, fmtDate, fmtNumber, fmtPercent } from '../i18n.js';
import * as api from '../api.js';
import { lineChart, bar } from '../chart.js';
import { pageHeader, errorBox, table, empty, asOfBanner } from '../widgets.js';

// weekOf gives the Monday and Sunday of the ISO week of a day.
export function weekOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  const dow = (dt.getUTCDay() + 6) % 7;
  const mon = new Date(dt.getTime() - dow * 86400000);
  const sun = new Date(mon.getTime() + 6 * 86400000);
  return [mon.toISOString().slice(0, 10), sun.toISOString().slice(0, 10)];
}

export function mount(root, ctx) {
  const asOf = (ctx && ctx.query.get('as_of')) || '';
  const body = h('div', { class: 'overview', attrs: { 'aria-busy': 'true' } });
  root.append(pageHeader(t('overview.title')), asOf ? asOfBanner(asOf, '#/') : null, body);
  let ctrl = new AbortController();
  const at = asOf ? { as_of: asOf } : {};

  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    try {
      const [sum, trend] = await Promise.all([
        api.get('/progress/summary', { params: at, minPos, signal }),
        api.get('/progress/trend', { params: { interval: 'week', ...at }, minPos, signal }),
      ]);
      const [mon, sun] = weekOf(sum.today);
      const comp = await api.get('/compliance', { params: { from: mon, to: sun, limit: 200, ...at }, minPos, signal });
      replace(body, kpis(sum), units(sum), chart(trend), week(comp, sum.today, mon, sun));
      body.removeAttribute('aria-busy');
    } catch (err) {
      if (err.name !== 'AbortError') replace(body, errorBox(err));
    }
  }
  refresh(0);
  return {
    refresh,
    // The past does not change with what happens now.
    wants: (c) => !asOf && (c.view === 'ledger' || c.view === 'commitments'),
    destroy: () => ctrl.abort(),
  };
}

function kpis(sum) {
  const c = sum.total;
  const card = (key, value, cls) => h('div', { class: ['kpi', cls], dataset: { kpi: key.split('.').pop() } },
    h('span', { class: 'kpi-value', text: value }), h('span', { class: 'kpi-label', text: t(key) }));
  return h('section', { class: 'kpis', attrs: { 'aria-label': t('overview.figures') } },
    h('p', { class: 'muted today', text: t('overview.asOfToday', { day: fmtDate(sum.today) }) }),
    h('div', { class: 'kpi-row' },
      card('overview.kpi.total', fmtNumber(c.total)),
      card('overview.kpi.open', fmtNumber(c.open)),
      card('overview.kpi.closed', fmtNumber(c.closed), 'good'),
      card('overview.kpi.overdue', fmtNumber(c.overdue), c.overdue ? 'bad' : ''),
      card('overview.kpi.closedShare', fmtPercent(c.closed_share)),
      card('overview.kpi.onTime', fmtPercent(c.on_time_rate))));
}

function ragCounts(c) {
  return h('span', { class: 'rag-counts' },
    h('span', { class: 'chip rag-red', title: t('rag.red'), text: `${t('rag.red')} ${fmtNumber(c.red)}` }),
    h('span', { class: 'chip rag-yellow', title: t('rag.yellow'), text: `${t('rag.yellow')} ${fmtNumber(c.yellow)}` }),
    h('span', { class: 'chip rag-green', title: t('rag.green'), text: `${t('rag.green')} ${fmtNumber(c.green)}` }));
}

function units(sum) {
  const rows = (sum.units || []).map((u) => {
    const c = u.subtree;
    const share = c.closed_share;
    return {
      attrs: { dataset: { unit: u.unit_id } },
      cells: [
        h('a', { class: `unit depth-${Math.min(u.depth, 4)}`, href: `#/ledger?unit_id=${encodeURIComponent(u.unit_id)}`, text: u.name }),
        h('span', { class: 'progress' }, bar(share, t('overview.closedShareOf', { unit: u.name })), h('span', { text: fmtPercent(share) })),
        `${fmtNumber(c.closed)} / ${fmtNumber(c.total - c.withdrawn)}`,
        ragCounts(c),
        h('span', { class: c.overdue ? 'overdue' : '', text: fmtNumber(c.overdue) }),
      ],
    };
  });
  return h('section', { class: 'card' },
    h('h2', { text: t('overview.units') }),
    rows.length ? table(null, [t('col.unit'), t('col.progress'), t('col.closedOfTotal'), t('col.rag'), t('col.overdue')], rows, { className: 'units' })
      : empty(t('overview.noUnits')));
}

function chart(trend) {
  const points = trend.points || [];
  const series = [
    { key: 'open', label: t('overview.open'), className: 'open' },
    { key: 'closed', label: t('overview.closed'), className: 'closed' },
  ];
  const last = points[points.length - 1] || { open: 0, closed: 0 };
  return h('section', { class: 'card' },
    h('h2', { text: t('overview.trend') }),
    h('ul', { class: 'legend' }, series.map((se) => h('li', { class: se.className }, h('span', { class: 'swatch', attrs: { 'aria-hidden': 'true' } }), se.label))),
    points.length ? lineChart(points, series, {
      title: t('overview.trend'),
      desc: t('overview.trendDesc', { open: fmtNumber(last.open), closed: fmtNumber(last.closed) }),
    }) : empty(t('overview.noTrend')),
    h('details', { class: 'data' },
      h('summary', { text: t('overview.trendData') }),
      table(null, [t('col.week'), t('overview.open'), t('overview.closed'), t('col.raised'), t('col.verified')],
        points.map((p) => [`${fmtDate(p.start)} – ${fmtDate(p.end)}`, fmtNumber(p.open), fmtNumber(p.closed), fmtNumber(p.raised), fmtNumber(p.verified)]))));
}

// week shows, for each commitment, the period that holds today.
function week(comp, today, mon, sun) {
  const rows = [];
  let met = 0;
  let due = 0;
  for (const c of comp.commitments || []) {
    const periods = c.periods || [];
    const p = periods.find((x) => x.start <= today && today <= x.end) || periods[periods.length - 1];
    if (!p || p.status === 'upcoming') continue;
    if (p.status !== 'exempt') due += 1;
    if (p.status === 'met') met += 1;
    rows.push({
      attrs: { dataset: { commitment: c.commitment.id } },
      cells: [
        c.commitment.unit_name || c.commitment.unit_id,
        c.commitment.title,
        `${tOr(`period.${p.kind}`, p.kind)} ${fmtDate(p.start)} – ${fmtDate(p.end)}`,
        `${fmtNumber(p.actual)} / ${fmtNumber(p.target)}`,
        periodChip(p.status),
      ],
    });
  }
  return h('section', { class: 'card' },
    h('h2', { text: t('overview.week', { from: fmtDate(mon), to: fmtDate(sun) }) }),
    h('p', { class: 'muted', text: t('overview.weekSummary', { met: fmtNumber(met), due: fmtNumber(due) }) }),
    rows.length ? table(null, [t('col.unit'), t('col.commitment'), t('col.period'), t('col.actualOfTarget'), t('col.status')], rows, { className: 'week' })
      : empty(t('overview.noCommitments')));
}

export function periodChip(status) {
  return h('span', { class: `chip period-${status}`, dataset: { pstatus: status }, text: tOr(`pstatus.${status}`, status) });
}
