// Assessments (周总结 / 月考核 / 季排名): the quarterly ranking with each
// unit's movement since the quarter before, the monthly scores with their
// breakdown, the weekly summary, and what was published of the month and
// the quarter, as reported beside as corrected. Administrators of the whole
// organisation also publish results and keep the rule set: its draft,
// a preview of the draft against the month shown ("what if"), and its
// publication as a new version.
//
// Every figure comes from the assessments view, computed under a published
// rule set version from the store up to one position; the page shows
// which, and publishes exactly the result it shows (its position and
// digest), so that what was reviewed is what is recorded.
//
// With as_of in the URL (#/rankings?as_of=<time or position:N>) the page
// shows the results as they could be computed then, under the rule sets
// published by then, and the publications as reported by then; it offers
// no forms, which act now.

import { h, replace } from '../dom.js';
import { t, tOr, fmtDate, fmtDateTime, fmtNumber } from '../i18n.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { actionForm } from '../forms.js';
import { pageHeader, errorBox, table, empty, asOfBanner } from '../widgets.js';

const KINDS = ['quarter', 'month', 'week'];
const PATHS = { quarter: '/assessments/ranking', month: '/assessments/monthly', week: '/assessments/weekly' };
const WEIGHTS = [
  ['base', 'asm.w.base'], ['item_closed', 'asm.w.itemClosed'], ['item_on_time', 'asm.w.itemOnTime'],
  ['item_overdue', 'asm.w.itemOverdue'], ['item_reopened', 'asm.w.itemReopened'],
  ['period_met', 'asm.w.periodMet'], ['period_missed', 'asm.w.periodMissed'],
];
const TITLES = { quarter: 'asm.title.quarter', month: 'asm.title.month', week: 'asm.title.week' };
const ROLLUPS = [['own', 'asm.rollup.own'], ['average', 'asm.rollup.average'], ['sum', 'asm.rollup.sum']];

// orgAdmin: rule sets and publications are the whole organisation's.
function orgAdmin() {
  return ((session.me && session.me.roles) || []).some((g) => g.role === 'admin' && !g.unit_id);
}

const signed = (n) => (n > 0 ? `+${fmtNumber(n)}` : fmtNumber(n));
const indent = (u) => `${'\u3000'.repeat(u.depth || 0)}${u.unit_name || u.unit_id}`;

// movement shows a rank change with an arrow and words, never the arrow
// alone.
function movement(u) {
  if (u.movement == null) return h('span', { class: 'move new', text: t('asm.new') });
  const n = Math.abs(u.movement);
  if (u.movement > 0) return h('span', { class: 'move up', attrs: { 'aria-label': t('asm.up', { n }) } }, h('span', { attrs: { 'aria-hidden': 'true' }, text: `▲ ${n}` }));
  if (u.movement < 0) return h('span', { class: 'move down', attrs: { 'aria-label': t('asm.down', { n }) } }, h('span', { attrs: { 'aria-hidden': 'true' }, text: `▼ ${n}` }));
  return h('span', { class: 'move same', attrs: { 'aria-label': t('asm.same') } }, h('span', { attrs: { 'aria-hidden': 'true' }, text: '—' }));
}

export function mount(root, ctx) {
  const state = { period: ctx.query.get('period') || '', ruleset: ctx.query.get('ruleset') || '', level: ctx.query.get('level') || '',
    as_of: ctx.query.get('as_of') || '' };
  const at = state.as_of ? { as_of: state.as_of } : {};
  let ctrl = new AbortController();
  let shown = {}; // kind -> the result on screen
  let rulesets = [];
  const notice = h('div', { id: 'asm-notice' });
  const ranking = h('section', { class: 'card', id: 'asm-ranking' });
  const monthly = h('section', { class: 'card', id: 'asm-monthly' });
  const weekly = h('section', { class: 'card', id: 'asm-weekly' });
  const published = h('section', { class: 'card', id: 'asm-published' });
  const admin = h('div', { id: 'asm-admin' });
  const rulesetSel = h('select', { id: 'asm-ruleset', name: 'ruleset' });
  const nowHref = () => `#/rankings${api.query({ ...state, as_of: '' })}`;
  root.append(pageHeader(t('rankings.title')), state.as_of ? asOfBanner(state.as_of, nowHref()) : null,
    filters(), notice, ranking, monthly, weekly, published, admin);

  function filters() {
    const period = h('input', { id: 'asm-period', type: 'date', name: 'period', value: state.period, attrs: { 'aria-describedby': 'asm-period-hint' } });
    const form = h('form', { class: 'filters card', attrs: { 'aria-label': t('asm.filters') } },
      h('div', { class: 'field' }, h('label', { for: 'asm-period', text: t('asm.period') }), period,
        h('p', { class: 'hint', id: 'asm-period-hint', text: t('asm.periodHint') })),
      h('div', { class: 'field' }, h('label', { for: 'asm-ruleset', text: t('asm.ruleset') }), rulesetSel),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: t('ledger.apply') })));
    const apply = (e) => {
      if (e) e.preventDefault();
      Object.assign(state, { period: period.value, ruleset: rulesetSel.value });
      history.replaceState(null, '', `#/rankings${api.query(state)}`);
      refresh(0);
    };
    form.addEventListener('submit', apply);
    rulesetSel.addEventListener('change', apply);
    return form;
  }

  function renderRulesetOptions() {
    const opts = [h('option', { value: '', text: t('asm.latest') })];
    for (const rs of rulesets) {
      for (const v of [...rs.versions].reverse()) {
        const value = `${rs.id}:${v.version}`;
        opts.push(h('option', { value, text: t('asm.version', { name: v.name, version: v.version }), selected: state.ruleset === value }));
      }
    }
    replace(rulesetSel, opts);
  }

  async function refresh(minPos) {
    ctrl.abort();
    ctrl = new AbortController();
    const { signal } = ctrl;
    const [rsID, rsVersion] = state.ruleset ? state.ruleset.split(':') : ['', ''];
    const params = { period: state.period, ruleset_id: rsID, version: rsVersion, ...at };
    try {
      const sets = await api.get('/rulesets', { params: at, minPos, signal });
      rulesets = sets.rulesets || [];
      renderRulesetOptions();
      if (!rulesets.some((rs) => rs.versions.length)) {
        shown = {};
        replace(notice, h('p', { class: 'notice', id: 'asm-no-rules', attrs: { role: 'note' }, text: t('asm.noRules') }));
        for (const el of [ranking, monthly, weekly, published]) replace(el);
        renderAdmin();
        return;
      }
      replace(notice);
      const results = await Promise.all(KINDS.map((k) => api.get(PATHS[k], { params, minPos, signal })));
      shown = Object.fromEntries(KINDS.map((k, i) => [k, results[i]]));
      const [pubMonth, pubQuarter] = await Promise.all(['month', 'quarter'].map((k) => api.get('/assessments/published',
        { params: { kind: k, period: shown[k].period_start, ...at }, minPos, signal })));
      renderRanking(shown.quarter);
      renderMonthly(shown.month);
      renderWeekly(shown.week);
      renderPublished([pubMonth, pubQuarter]);
      renderAdmin();
    } catch (err) {
      if (err.name !== 'AbortError') replace(notice, errorBox(err));
    }
  }

  function head(kind, res) {
    const range = t('asm.range', { from: fmtDate(res.period_start), to: fmtDate(res.period_end) });
    return [
      h('h2', { text: `${t(TITLES[kind])} · ${range}` }),
      h('p', { class: 'muted' },
        res.complete ? null : h('span', { class: 'chip', text: t('asm.running', { day: fmtDate(res.through) }) }), ' ',
        t('asm.computed', { name: res.ruleset.name, version: res.ruleset.version, position: res.position })),
    ];
  }

  function renderRanking(res) {
    const depths = [...new Set(res.units.map((u) => u.depth))].sort((a, b) => a - b);
    const level = state.level !== '' && depths.includes(Number(state.level)) ? Number(state.level) : (depths.includes(1) ? 1 : depths[0]);
    const sel = h('select', { id: 'asm-level', name: 'level' },
      depths.map((d) => h('option', { value: String(d), text: t('asm.levelN', { n: d + 1 }), selected: d === level })));
    sel.addEventListener('change', () => {
      state.level = sel.value;
      history.replaceState(null, '', `#/rankings${api.query(state)}`);
      renderRanking(res);
    });
    const units = res.units.filter((u) => u.depth === level).sort((a, b) => a.rank - b.rank || a.unit_name.localeCompare(b.unit_name));
    const rows = units.map((u) => ({
      attrs: { dataset: { unit: u.unit_id, rank: String(u.rank) } },
      cells: [fmtNumber(u.rank), u.unit_name || u.unit_id, fmtNumber(u.score), movement(u),
        u.previous_rank ? fmtNumber(u.previous_rank) : '—'],
    }));
    replace(ranking, head('quarter', res),
      h('div', { class: 'field inline' }, h('label', { for: 'asm-level', text: t('asm.level') }), sel),
      rows.length ? table(null, [t('asm.col.rank'), t('col.unit'), t('asm.col.score'), t('asm.col.movement'), t('asm.col.previousRank')], rows, { className: 'ranking' })
        : empty(t('overview.noUnits')));
  }

  function renderMonthly(res) {
    // Nothing counted shows as a dash, so that what did count stands out.
    const pts = (p, n) => (n ? `${signed(p)} (${fmtNumber(n)})` : '—');
    const rows = res.units.map((u) => ({
      attrs: { dataset: { unit: u.unit_id } },
      cells: [indent(u), fmtNumber(u.score), fmtNumber(u.own), fmtNumber(u.breakdown.base),
        pts(u.breakdown.item_closed, u.counts.items_closed), pts(u.breakdown.item_on_time, u.counts.items_on_time),
        pts(u.breakdown.item_overdue, u.counts.items_overdue), pts(u.breakdown.item_reopened, u.counts.items_reopened),
        pts(u.breakdown.period_met, u.counts.periods_met), pts(u.breakdown.period_missed, u.counts.periods_missed)],
    }));
    replace(monthly, head('month', res), h('p', { class: 'muted', text: t('asm.breakdownNote') }),
      rows.length ? table(null, [t('col.unit'), t('asm.col.score'), t('asm.col.own'), t('asm.w.base'), t('asm.col.closed'), t('asm.col.onTime'),
        t('asm.col.overdue'), t('asm.col.reopened'), t('asm.col.met'), t('asm.col.missed')], rows, { className: 'monthly' })
        : empty(t('overview.noUnits')));
  }

  function renderWeekly(res) {
    const rows = res.units.map((u) => ({
      attrs: { dataset: { unit: u.unit_id } },
      cells: [indent(u), fmtNumber(u.counts.items_closed), fmtNumber(u.counts.progress_reports), fmtNumber(u.counts.deadlines_changed),
        fmtNumber(u.counts.periods_met), fmtNumber(u.counts.periods_missed), fmtNumber(u.counts.items_raised), fmtNumber(u.counts.items_overdue),
        fmtNumber(u.score)],
    }));
    replace(weekly, head('week', res),
      rows.length ? table(null, [t('col.unit'), t('asm.col.closed'), t('asm.col.progress'), t('asm.col.deadlines'), t('asm.col.met'),
        t('asm.col.missed'), t('asm.col.raised'), t('asm.col.overdue'), t('asm.col.score')], rows, { className: 'weekly' })
        : empty(t('overview.noUnits')));
  }

  // renderPublished shows, per period, the first version (as reported)
  // beside the latest (as corrected), unit by unit.
  function renderPublished(list) {
    const blocks = list.map((pub) => {
      const title = `${t(TITLES[pub.kind])} · ${t('asm.range', { from: fmtDate(pub.period_start), to: fmtDate(pub.period_end) })}`;
      const vs = pub.versions || [];
      if (!vs.length) return h('div', { class: 'asm-pub', dataset: { kind: pub.kind } }, h('h3', { text: title }), empty(t('asm.notPublished')));
      const first = vs[0];
      const last = vs[vs.length - 1];
      const versions = h('ul', { class: 'asm-versions' }, vs.map((v) => h('li', { dataset: { version: String(v.version) } },
        t('asm.versionLine', { version: v.version, time: fmtDateTime(v.published_at), actor: v.published_by, rules: `${v.ruleset_id} v${v.ruleset_version}`, position: v.position }),
        ' ', h('span', { class: v.reproduced ? 'chip ok' : 'chip bad', text: v.reproduced ? t('asm.reproduced') : t('asm.notReproduced') }),
        v.note ? h('span', { class: 'muted', text: ` ${v.note}` }) : null)));
      const corrected = new Map(last.result.units.map((u) => [u.unit_id, u]));
      const rows = first.result.units.map((u) => {
        const c = corrected.get(u.unit_id);
        const diff = c ? Math.round((c.score - u.score) * 100) / 100 : 0;
        return { attrs: { dataset: { unit: u.unit_id } }, cells: [indent(u), fmtNumber(u.score), fmtNumber(u.rank), c ? fmtNumber(c.score) : '—', c ? fmtNumber(c.rank) : '—',
          diff ? h('strong', { text: signed(diff) }) : '—'] };
      });
      return h('div', { class: 'asm-pub', dataset: { kind: pub.kind } }, h('h3', { text: title }), versions,
        table(null, [t('col.unit'), t('asm.col.asReported'), t('asm.col.rank'), t('asm.col.asCorrected', { version: last.version }), t('asm.col.rank'), t('asm.col.change')],
          rows, { className: 'side-by-side' }));
    });
    replace(published, h('h2', { text: t('asm.published') }), blocks);
  }

  // renderAdmin offers publication and the rule set to administrators of
  // the whole organisation.
  let adminKey = '';
  function renderAdmin() {
    if (!orgAdmin() || state.as_of) {
      replace(admin);
      return;
    }
    // Live changes refetch the page often; the forms are built again only
    // when what they offer changed, so that nobody loses what they typed.
    const rs0 = rulesets[0];
    const key = [rs0 ? `${rs0.id}@${rs0.position}` : '', ...KINDS.map((k) => (shown[k] ? shown[k].period_start : ''))].join('|');
    if (key === adminKey) return;
    adminKey = key;
    const forms = [];
    if (shown.month) {
      forms.push(actionForm({
        action: 'publish-assessment',
        title: t('asm.publish'),
        fields: [
          { name: 'kind', label: t('asm.publishKind'), type: 'select', required: true, value: 'month',
            options: KINDS.map((k) => ({ value: k, label: `${t(TITLES[k])} · ${fmtDate(shown[k].period_start)}` })) },
          { name: 'note', label: t('asm.publishNote'), type: 'textarea', wide: true },
        ],
        run: (v, key) => {
          const res = shown[v.kind || 'month'];
          return api.post('/assessments/publications', { kind: res.kind, period: res.period_start, ruleset_id: res.ruleset.id,
            ruleset_version: res.ruleset.version, position: res.position, digest: res.digest, note: v.note }, key);
        },
        done: (reply) => refresh(reply.position),
      }));
    }
    const rs = rulesets[0];
    if (!rs) {
      forms.push(rulesForm('draft-ruleset', t('asm.createDefault'), null, true));
    } else {
      forms.push(rulesForm('revise-ruleset', t('asm.editDraft', { name: rs.name }), rs, false));
      forms.push(actionForm({
        action: 'publish-ruleset',
        title: t('asm.publishRules'),
        fields: [{ name: 'note', label: t('field.note'), type: 'textarea', wide: true,
          hint: rs.dirty ? t('asm.dirty') : t('asm.notDirty') }],
        run: (v, key) => api.post(`/rulesets/${encodeURIComponent(rs.id)}/publish`, v, key),
        done: (reply) => refresh(reply.position),
      }));
    }
    const previewBox = h('div', { id: 'asm-preview' });
    const previewBtn = rs ? h('button', { type: 'button', class: 'secondary', id: 'asm-preview-run', text: t('asm.previewRun') }) : null;
    if (previewBtn) previewBtn.addEventListener('click', () => preview(rs, previewBox));
    replace(admin, h('section', { class: 'card', id: 'asm-rules' },
      h('h2', { text: t('asm.rules') }), h('p', { class: 'muted', text: t('asm.rulesNote') }),
      forms, previewBtn ? h('div', { class: 'form-actions' }, previewBtn) : null, previewBox));
  }

  // rulesForm edits the draft: its name, every weight and the roll-up.
  function rulesForm(action, title, rs, open) {
    const rules = rs ? rs.draft : { base: 100, item_closed: 2, item_on_time: 1, item_overdue: -2, item_reopened: -3, period_met: 1, period_missed: -2, rollup: 'own' };
    const fields = [{ name: 'name', label: t('asm.draftName'), required: !rs, value: rs ? rs.name : t('asm.defaultName'), wide: true }];
    for (const [name, key] of WEIGHTS) fields.push({ name: `rules.${name}`, label: t(key), type: 'number', step: 0.01, value: rules[name] });
    fields.push({ name: 'rules.rollup', label: t('asm.w.rollup'), type: 'select', required: true, value: rules.rollup,
      options: ROLLUPS.map(([value, key]) => ({ value, label: t(key) })) });
    if (rs) fields.push({ name: 'reason', label: t('asm.reason'), type: 'textarea', required: true, wide: true });
    return actionForm({
      action, title, open, fields,
      run: (v, key) => {
        const body = { rules: {} };
        for (const [k, val] of Object.entries(v)) {
          if (k.startsWith('rules.')) body.rules[k.slice(6)] = val;
          else body[k] = val;
        }
        for (const [name] of WEIGHTS) body.rules[name] ??= 0;
        return rs ? api.post(`/rulesets/${encodeURIComponent(rs.id)}/revise`, body, key) : api.post('/rulesets', body, key);
      },
      done: (reply) => refresh(reply.position),
    });
  }

  // preview scores the month shown under the draft, beside the published
  // figures; it writes nothing.
  async function preview(rs, box) {
    try {
      const res = await api.get('/assessments/preview', { params: { kind: 'month', period: shown.month ? shown.month.period_start : state.period, ruleset_id: rs.id } });
      const now = new Map(((shown.month && shown.month.units) || []).map((u) => [u.unit_id, u]));
      const rows = res.units.map((u) => {
        const p = now.get(u.unit_id);
        return { attrs: { dataset: { unit: u.unit_id } }, cells: [indent(u), p ? fmtNumber(p.score) : '—', fmtNumber(u.score),
          p ? signed(Math.round((u.score - p.score) * 100) / 100) : '—', fmtNumber(u.rank)] };
      });
      replace(box, h('h3', { text: t('asm.previewOf', { from: fmtDate(res.period_start), to: fmtDate(res.period_end) }) }),
        table(null, [t('col.unit'), t('asm.col.publishedScore'), t('asm.col.draftScore'), t('asm.col.change'), t('asm.col.rank')], rows, { className: 'preview' }));
    } catch (err) {
      replace(box, errorBox(err));
    }
  }

  refresh(0);
  return { refresh, wants: (c) => !state.as_of && c.view === 'assessments', destroy: () => ctrl.abort() };
}
