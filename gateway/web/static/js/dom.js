// DOM helpers. Every piece of text goes in through textContent or a text
// node, never through innerHTML: item titles, reasons and names are user
// input, and this is what keeps markup in them from ever running.

// h builds an element. props may hold: class, id, text, for, dataset,
// attrs (set with setAttribute), on (event listeners), and any other key is
// set as a property (href, type, value, disabled, ...). Children are
// elements, strings (as text nodes), arrays of those, or null/false (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// s builds an SVG element; props are attributes, except text and on.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    switch (k) {
      case 'class': el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v; break;
      case 'text': el.textContent = v; break;
      case 'for': el.htmlFor = v; break;
      case 'dataset': Object.assign(el.dataset, v); break;
      case 'attrs': for (const [a, av] of Object.entries(v)) if (av != null && av !== false) el.setAttribute(a, String(av)); break;
      case 'on': for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); break;
      case 'style': for (const [p, pv] of Object.entries(v)) el.style.setProperty(p, pv); break;
      default: el[k] = v;
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace empties el and puts children in it.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// uid returns an id unique in the page, for label/for and aria links.
let seq = 0;
export function uid(prefix) {
  seq += 1;
  return `${prefix}-${seq}`;
}

// debounce delays fn until ms have passed without another call.
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// sleep resolves after ms.
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
