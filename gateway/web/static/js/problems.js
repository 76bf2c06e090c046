// Field problems in the reader's language. Every field problem of the API
// carries a code (required, too_long, out_of_range, ...) beside its
// English text, and the values the text mentions as params ({max: "200"}).
// The dictionaries word each code (problem.<code>) with those values; a
// code this build does not know, and the catch-all "invalid", show the
// API's English text, so that nothing is ever lost in translation.

import { t, tOr, currentLang, fmtDate, fmtNumber } from './i18n.js';
import { session, unitName } from './session.js';

const NUMBERS = ['max', 'min', 'version', 'latest'];
const DATES = ['date', 'from', 'to'];

// Key prefixes of the dictionaries an allowed value may be worded under,
// tried in turn.
const VALUE_SPACES = ['period.', 'severity.', 'role.', 'unitkind.', 'asm.rollup.'];

function valueLabel(v) {
  for (const ns of VALUE_SPACES) {
    const label = tOr(`${ns}${v}`, '');
    if (label) return label;
  }
  return v;
}

function list(values) {
  try {
    return new Intl.ListFormat(currentLang(), { type: 'disjunction' }).format(values);
  } catch {
    return values.join(', ');
  }
}

// param renders one parameter for the reader: numbers and dates in the
// reader's form, statuses, roles and field names translated, units and
// cycles by name.
function param(name, v) {
  if (v == null || v === '') return '';
  if (NUMBERS.includes(name) && /^-?\d+$/.test(v)) return fmtNumber(Number(v));
  if (DATES.includes(name) && /^\d{4}-\d{2}-\d{2}$/.test(v)) return fmtDate(v);
  switch (name) {
    case 'status': return tOr(`status.${v}`, v);
    case 'role': return tOr(`role.${v}`, v);
    case 'expected': return tOr(`jsontype.${v}`, v);
    case 'other': return tOr(`field.${v}`, v);
    case 'allowed': return list(v.split(',').map(valueLabel));
    case 'unit': return unitName(v);
    case 'cycle': {
      const c = session.cycles.find((x) => x.id === v);
      return c ? c.name : v;
    }
    default: return v;
  }
}

// problemText is what to show beside a field for one field problem of an
// API error ({field, code, problem, params}).
export function problemText(fe) {
  const code = fe && fe.code;
  const key = `problem.${code}`;
  if (!code || code === 'invalid' || tOr(key, '') === '') return t('problem.invalid', { problem: (fe && fe.problem) || '' });
  const vars = {};
  for (const [name, v] of Object.entries(fe.params || {})) vars[name] = param(name, String(v));
  return t(key, vars);
}

// errorText is one line for an API error where there is no field to put
// its problems beside: the field problems in the reader's language, or
// the message.
export function errorText(err) {
  const fields = (err && err.fields) || [];
  if (!fields.length) return (err && err.message) || '';
  return fields.map((fe) => problemText(fe)).join(t('problems.separator'));
}
