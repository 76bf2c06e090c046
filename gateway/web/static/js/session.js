// The signed-in person: who they are (GET /me), the units they can see and
// the cycles, and which actions their roles allow on which unit.
//
// The permission table mirrors the gateway's (gateway/commands.go, which
// mirrors the command side): a role on a unit covers its subtree, a role
// without a unit covers the whole organisation. It only decides which
// forms to show; the server decides what is allowed.

import * as api from './api.js';

const EDITOR = ['editor', 'admin'];
const REVIEWER = ['reviewer', 'admin'];
const ADMIN = ['admin'];

export const ACTION_ROLES = {
  raise: EDITOR,
  assign: EDITOR,
  plan: EDITOR,
  complete: EDITOR,
  progress: EDITOR,
  evidence: EDITOR,
  submit: EDITOR,
  verify: REVIEWER,
  reject: REVIEWER,
  reopen: REVIEWER,
  deadline: ADMIN,
  carry: ADMIN,
  withdraw: ADMIN,
  log: EDITOR,
};

export const session = {
  me: null,
  units: [],
  unitById: new Map(),
  cycles: [],
};

// load reads the caller, the unit tree and the cycles. It throws the
// ApiError of /me (401 for a bad token).
export async function loadSession(tok) {
  const me = await api.get('/me', { tok });
  const [tree, cycles] = await Promise.all([api.get('/units', { tok }), api.get('/cycles', { tok })]);
  session.me = me;
  session.units = tree.units || [];
  session.unitById = new Map(session.units.map((u) => [u.id, u]));
  session.cycles = cycles.cycles || [];
  return session;
}

// refreshTree rereads units and cycles after a change notice about them.
export async function refreshTree(minPos) {
  const [tree, cycles] = await Promise.all([api.get('/units', { minPos }), api.get('/cycles', { minPos })]);
  session.units = tree.units || [];
  session.unitById = new Map(session.units.map((u) => [u.id, u]));
  session.cycles = cycles.cycles || [];
}

export function clearSession() {
  session.me = null;
  session.units = [];
  session.unitById = new Map();
  session.cycles = [];
}

// covers reports whether a grant on grantUnit ('' = everything) covers
// unit, walking up the tree the caller can see.
function covers(grantUnit, unit) {
  if (!grantUnit) return true;
  for (let u = unit, depth = 0; u && depth < 100; depth += 1) {
    if (u === grantUnit) return true;
    const node = session.unitById.get(u);
    u = node ? node.parent_id : '';
  }
  return false;
}

// can reports whether the caller's roles allow action on unit; without a
// unit, whether they allow it anywhere.
export function can(action, unit) {
  const roles = ACTION_ROLES[action] || [];
  const grants = (session.me && session.me.roles) || [];
  return grants.some((g) => roles.includes(g.role) && (unit === undefined || covers(g.unit_id || '', unit)));
}

// unitsWhere lists the visible units on which action is allowed.
export function unitsWhere(action) {
  return session.units.filter((u) => !u.retired && can(action, u.id));
}

// isAdmin reports whether the caller is an administrator anywhere: the
// report import is offered to administrators (the server still checks
// each entry's unit).
export function isAdmin() {
  return ((session.me && session.me.roles) || []).some((g) => g.role === 'admin');
}

export function unitName(id) {
  const u = session.unitById.get(id);
  return u ? u.name : id;
}

// unitOptions are select options for the visible units, indented by depth.
export function unitOptions(units = session.units) {
  return units.map((u) => ({ value: u.id, label: `${'\u3000'.repeat(u.depth || 0)}${u.name}` }));
}
