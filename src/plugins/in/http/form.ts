/**
 * in_http request parameters: the query string plus the body according to its Content-Type, read
 * the way Fluentd (WEBrick) reads them: fields separated by `&` or `;`, `+` is a space, `%XX` is a
 * byte, the first occurrence of a field wins within one source and body fields replace query fields.
 * Values stay bytes (a `msgpack=` field is binary); callers decode text where they need it.
 */

export type Params = Map<string, Buffer>;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Form-unescapes `buf[start, end)`; a malformed `%` escape is kept as it is. */
function unescapeForm(buf: Buffer, start: number, end: number): Buffer {
  let plain = true;
  for (let i = start; i < end; i++) {
    if (buf[i] === 0x25 || buf[i] === 0x2b) { plain = false; break; }
  }
  if (plain) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x2b) {
      out[n++] = 0x20;
    } else if (c === 0x25 && i + 2 < end && hexValue(buf[i + 1]!) >= 0 && hexValue(buf[i + 2]!) >= 0) {
      out[n++] = hexValue(buf[i + 1]!) * 16 + hexValue(buf[i + 2]!);
      i += 2;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** Parses `a=1&b=2;c` (query string or form body). The first occurrence of a name wins. */
export function parseQuery(raw: Buffer): Params {
  const out: Params = new Map();
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i < raw.length && raw[i] !== 0x26 && raw[i] !== 0x3b) continue;
    if (i > start) {
      let eq = raw.indexOf(0x3d, start);
      if (eq === -1 || eq > i) eq = i;
      const key = unescapeForm(raw, start, eq).toString('utf8');
      if (!out.has(key)) out.set(key, eq < i ? unescapeForm(raw, eq + 1, i) : Buffer.alloc(0));
    }
    start = i + 1;
  }
  return out;
}

/** `"abc"` → `abc` (with `\"` unescaped); an unquoted value is returned as it is. */
function dequote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

/** The fields of a `multipart/form-data` body; the first part with a given name wins. */
export function parseMultipart(body: Buffer, boundary: string): Params {
  const out: Params = new Map();
  const first = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  let pos = body.indexOf(first);
  if (pos === -1) return out;
  pos += first.length;
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing delimiter
    const lineEnd = body.indexOf('\r\n', pos);
    if (lineEnd === -1) break;
    const next = body.indexOf(delim, lineEnd);
    if (next === -1) break;
    const part = body.subarray(lineEnd + 2, next);
    const headEnd = part.indexOf('\r\n\r\n');
    const head = headEnd === -1 ? '' : part.subarray(0, headEnd).toString('latin1');
    const m = /^content-disposition:[^\r\n]*?;\s*name=("(?:[^"\\]|\\.)*"|[^;\r\n]*)/im.exec(head);
    if (m) {
      const name = Buffer.from(dequote(m[1]!), 'latin1').toString('utf8');
      if (!out.has(name)) out.set(name, part.subarray(headEnd + 4));
    }
    pos = next + delim.length;
  }
  return out;
}

/** Query parameters plus the body according to its Content-Type (body fields replace query fields). */
export function requestParams(query: string, contentType: string, body: Buffer): Params {
  const params = parseQuery(Buffer.from(query, 'latin1'));
  const ct = contentType.trimStart().toLowerCase();
  const merge = (from: Params) => { for (const [k, v] of from) params.set(k, v); };
  if (ct.startsWith('application/x-www-form-urlencoded')) {
    merge(parseQuery(body));
  } else if (ct.startsWith('multipart/form-data')) {
    const m = /;\s*boundary=("[^"]*"|[^;\s]+)/i.exec(contentType);
    if (m) merge(parseMultipart(body, dequote(m[1]!)));
  } else if (ct.startsWith('application/json') || ct.startsWith('application/csp-report')) {
    params.set('json', body);
  } else if (ct.startsWith('application/msgpack')) {
    params.set('msgpack', body);
  } else if (ct.startsWith('application/x-ndjson')) {
    params.set('ndjson', body);
  }
  return params;
}

/** Splits a request target into its path and raw query (absolute-form targets included). */
export function splitTarget(target: string): { path: string; query: string } {
  let path = target;
  let query = '';
  const q = target.indexOf('?');
  if (q !== -1) {
    path = target.slice(0, q);
    query = target.slice(q + 1);
  }
  const hash = query.indexOf('#');
  if (hash !== -1) query = query.slice(0, hash);
  if (!path.startsWith('/')) {
    try {
      path = new URL(target).pathname;
    } catch {
      // not absolute-form either (e.g. `*`): use it as it is
    }
  }
  return { path, query };
}

/** `/app/log` → `app.log`, as Fluentd: drop the first character, trailing empty segments vanish. */
export function tagFromPath(path: string): string {
  const parts = path.slice(1).split('/');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('.');
}
