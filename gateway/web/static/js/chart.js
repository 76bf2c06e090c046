// Small hand-written SVG charts.

import { s, uid } from './dom.js';
import { fmtNumber, fmtShortDate } from './i18n.js';

// lineChart draws series over points: [{key, label, className}] read from
// each point (points: [{start, <key>: n}]). The SVG scales to its box;
// title and desc make it readable to screen readers, and the caller shows
// the figures as text beside it as well.
export function lineChart(points, series, { title, desc }) {
  const W = 640;
  const H = 240;
  const pad = { l: 44, r: 12, t: 12, b: 30 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const max = Math.max(1, ...points.flatMap((p) => series.map((se) => p[se.key] || 0)));
  const nice = niceMax(max);
  const x = (i) => pad.l + (points.length <= 1 ? iw / 2 : (i * iw) / (points.length - 1));
  const y = (v) => pad.t + ih - (v / nice) * ih;

  const id = uid('chart');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-t ${id}-d` },
    s('title', { id: `${id}-t`, text: title }),
    s('desc', { id: `${id}-d`, text: desc }));

  for (let i = 0; i <= 4; i += 1) {
    const v = (nice * i) / 4;
    svg.append(
      s('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis', text: fmtNumber(v) }),
    );
  }
  const every = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((p, i) => {
    if (i % every === 0 || i === points.length - 1) {
      svg.append(s('text', { x: x(i), y: H - 10, 'text-anchor': 'middle', class: 'axis', text: fmtShortDate(p.start) }));
    }
  });
  for (const se of series) {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p[se.key] || 0).toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: `series ${se.className}` }));
    points.forEach((p, i) => {
      svg.append(s('circle', { cx: x(i), cy: y(p[se.key] || 0), r: 3, class: `dot ${se.className}` },
        s('title', { text: `${fmtShortDate(p.start)} ${se.label}: ${fmtNumber(p[se.key] || 0)}` })));
    });
  }
  return svg;
}

function niceMax(v) {
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

// bar is a horizontal progress bar for a share 0..1.
export function bar(share, label) {
  const pct = Math.round(Math.max(0, Math.min(1, share || 0)) * 100);
  return s('svg', { viewBox: '0 0 100 8', class: 'bar', preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    s('rect', { x: 0, y: 0, width: 100, height: 8, class: 'bar-bg' }),
    s('rect', { x: 0, y: 0, width: pct, height: 8, class: 'bar-fg' }));
}
