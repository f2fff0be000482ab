// The gateway API as the console uses it: the bearer token (kept in sessionStorage, so it goes away
// with the tab), JSON calls, and the live stream read with fetch(): a browser EventSource cannot
// send an Authorization header.

const TOKEN_KEY = 'console.token';

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function toError(res) {
  let body;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = body?.error;
  return new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`, e?.details);
}

/** A JSON call; throws ApiError with the gateway's `{error: {code, message}}` on a non-2xx answer. */
export async function api(method, path, body, token = getToken()) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, cache: 'no-store', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!res.ok) throw await toError(res);
  return res.status === 204 ? undefined : res.json();
}

/**
 * A call with a raw body (an uploaded file) and a JSON answer: `body` is a Blob or File sent as is
 * with `contentType`.
 */
export async function upload(path, body, contentType) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { accept: 'application/json', authorization: `Bearer ${getToken()}`, 'content-type': contentType },
    cache: 'no-store',
    body,
  });
  if (!res.ok) throw await toError(res);
  return res.json();
}

/**
 * A file from the API (an export): read with the bearer token, which a plain link cannot send.
 * Returns the Blob and the file name the gateway suggests (Content-Disposition), or `fallback`.
 */
export async function download(path, fallback) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${getToken()}` }, cache: 'no-store' });
  if (!res.ok) throw await toError(res);
  const disposition = res.headers.get('content-disposition') ?? '';
  const m = /filename\*=UTF-8''([^;]+)/i.exec(disposition) ?? /filename="?([^";]+)"?/i.exec(disposition);
  let name = fallback;
  if (m) { try { name = decodeURIComponent(m[1]); } catch { name = m[1]; } }
  return { blob: await res.blob(), filename: name.replace(/[\\/]/g, '_') };
}

/**
 * Reads a server-sent event stream until it ends or `signal` aborts; calls `onEvent(name, data)`
 * per event. The gateway ends lines with `\n`; a `\r\n` is accepted too.
 */
export async function readStream(path, { signal, onEvent }) {
  const res = await fetch(path, {
    headers: { authorization: `Bearer ${getToken()}`, accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (!res.ok) throw await toError(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let name = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      let line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        // a blank line ends an event
        if (data.length > 0) onEvent(name || 'message', data.join('\n'));
        name = '';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') name = v;
        else if (field === 'data') data.push(v);
      }
    }
  }
}
