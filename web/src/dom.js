// Building the page's elements. Text always goes in as text nodes (never innerHTML): VM names,
// console output and every other value petreld reports may hold markup, and stays text.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, ...children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtBytes(n) {
  if (n == null || n < 0 || !Number.isFinite(n)) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

export function fmtDuration(s) {
  if (s == null || s < 0) return '—';
  s = Math.floor(s);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s % 60}s`;
  return `${s}s`;
}

let toastTimer;
export function toast(msg, bad = false) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = bad ? 'show bad' : 'show';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = ''; }, bad ? 8000 : 3000);
}

// A modal dialog: fields [{name, label, type, value, options}], resolves with the values or null.
export function ask(title, text, fields = [], { confirm = 'OK', danger = false } = {}) {
  const dlg = document.getElementById('dialog');
  clear(dlg);
  const inputs = {};
  const form = h('form', { method: 'dialog', class: 'dlg' },
    h('h2', {}, title),
    text ? h('p', {}, text) : null,
    fields.map((f) => {
      let input;
      if (f.options) {
        input = h('select', { name: f.name }, f.options.map((o) => h('option', { value: o }, o)));
      } else {
        input = h('input', { name: f.name, type: f.type || 'text', placeholder: f.placeholder || '' });
        if (f.value != null) input.value = f.value;
      }
      inputs[f.name] = input;
      return h('label', {}, h('span', {}, f.label), input);
    }),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', value: 'cancel', class: 'cancel', onclick: () => dlg.close('cancel') }, 'Cancel'),
      h('button', { type: 'submit', value: 'ok', class: danger ? 'danger ok' : 'ok' }, confirm)));
  dlg.append(form);
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      if (dlg.returnValue !== 'ok') return resolve(null);
      const out = {};
      for (const [k, el] of Object.entries(inputs)) out[k] = el.value;
      resolve(out);
    }, { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}
