// petreld's REST API from the page: the same endpoints as petrelctl, with the session's
// cookie (sent by the browser) and its CSRF token (X-CSRF-Token) on every change.
let csrf = null;

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const opt = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.fault_message) || `${r.status} ${r.statusText}`);
  return data;
}

// Who we are: {user, role, csrf}, or null when a login is needed.
export async function session() {
  try {
    const s = await api('GET', '/auth/session');
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function login(user, password) {
  const s = await api('POST', '/auth/login', { user, password });
  csrf = s.csrf;
  return s;
}

export async function logout() {
  await api('POST', '/auth/logout');
  csrf = null;
}

export function csrfToken() { return csrf; }

export const vmPath = (name, sub = '') => `/vms/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;

// petreld's event stream (GET /events, one JSON object a line): onEvent for each, until
// signal aborts; reconnects after a pause when the stream ends.
export async function followEvents(onEvent, signal) {
  while (!signal.aborted) {
    try {
      const r = await fetch('/events', { credentials: 'same-origin', signal });
      if (!r.ok) throw new ApiError(r.status, 'event stream refused');
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try { onEvent(JSON.parse(line)); } catch { /* not an event */ }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}
