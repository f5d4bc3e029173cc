// The JSON API with the login token. The token lives in sessionStorage
// (gone with the tab) and goes out as `Authorization: Bearer`; there is
// no cookie, so another site cannot make the browser act for the user.

const KEY = 'brine.session';

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

export function setSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

// An API error with its status and the server's `error` message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Called on a 401: the token expired or was revoked.
let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function headers(extra = {}) {
  const s = session();
  const h = { Accept: 'application/json', ...extra };
  if (s) h.Authorization = 'Bearer ' + s.token;
  return h;
}

async function check(resp) {
  if (resp.ok) return resp;
  let message = resp.status + ' ' + resp.statusText;
  try {
    const body = await resp.json();
    if (body && body.error) message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  // A 401 with a session means the token expired or was revoked; a 401
  // without one is the login form's own failure, which it shows itself.
  if (resp.status === 401 && session()) onUnauthorized(message);
  throw new ApiError(resp.status, message);
}

export async function get(path) {
  const resp = await check(await fetch(path, { headers: headers() }));
  return resp.json();
}

export async function send(method, path, body) {
  const init = { method, headers: headers({ 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await check(await fetch(path, init));
  return resp.json();
}

// Most bytes one SSE frame may take before the stream is dropped: a
// server that never sends a blank line must not grow the buffer forever.
const MAX_FRAME = 1 << 20;

// Reads `/events?tag=GLOB` with fetch (EventSource cannot send the
// Authorization header) and calls onEvent(tag, data) per frame. Returns
// {close(), ready}: `ready` resolves once the server answered, i.e. the
// subscription exists and no later event can be missed.
export function events(tag, onEvent, onEnd = () => {}) {
  const abort = new AbortController();
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  (async () => {
    let resp;
    try {
      const q = tag ? '?tag=' + encodeURIComponent(tag) : '';
      resp = await check(await fetch('/events' + q, { headers: headers(), signal: abort.signal }));
    } catch (e) {
      rejectReady(e);
      onEnd(e);
      return;
    }
    resolveReady();
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          dispatch(frame, onEvent);
        }
        if (buf.length > MAX_FRAME) throw new Error('event frame too large');
      }
      onEnd(null);
    } catch (e) {
      onEnd(abort.signal.aborted ? null : e);
    }
  })();
  return { close: () => abort.abort(), ready };
}

// One SSE frame: `event:` is the tag, `data:` lines joined by newlines;
// lines starting with `:` are keep-alive comments.
function dispatch(frame, onEvent) {
  let name = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch {
    parsed = data.join('\n');
  }
  onEvent(name, parsed);
}
