// Building the page from data without ever parsing data as HTML: every
// value goes in as a text node, so a grain like "<img onerror=...>" is
// shown, not run.

// h('tag.class#id', {attrs, on: {event: fn}}, ...children)
export function h(spec, attrs, ...children) {
  // 'p#id.a.b' or 'p.a#id': the tag, then `.class` and `#id` parts.
  const [tag, ...parts] = spec.split(/(?=[.#])/);
  const el = document.createElement(tag || 'div');
  for (const p of parts) {
    if (p[0] === '#') el.id = p.slice(1);
    else el.classList.add(p.slice(1));
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else if (v !== false && v != null) {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// A value as short text for a table cell.
export function text(v) {
  if (v == null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

// A table from column names and rows of cells (nodes or values).
export function table(columns, rows, cls = '') {
  return h('table' + (cls ? '.' + cls : ''),
    h('thead', h('tr', columns.map((c) => h('th', c)))),
    h('tbody', rows));
}

export function yesNo(b) {
  return h('span.badge.' + (b ? 'ok' : 'bad'), b ? 'yes' : 'no');
}

export function link(href, label) {
  return h('a', { href }, label);
}

export function enc(s) {
  return encodeURIComponent(s);
}
