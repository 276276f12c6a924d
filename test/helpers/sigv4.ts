/**
 * AWS Signature Version 4 verification for the local test endpoints, written from the published
 * algorithm with node:crypto only: canonical request → string to sign → signing key
 * (HMAC chain date/region/service/"aws4_request") → signature, compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedRequest {
  method: string;
  /** Path and query as received (`/`, `/?a=b`). */
  url: string;
  /** `IncomingMessage.rawHeaders`: name, value, name, value … */
  rawHeaders: string[];
  body: Buffer;
}

export interface Authorization {
  accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** A credential the endpoint knows: the secret, and for temporary ones the token and expiry. */
export interface KnownCredential {
  secretAccessKey: string;
  sessionToken?: string;
  expiresAtMs?: number;
}

export type VerifyResult =
  | { ok: true; auth: Authorization }
  | { ok: false; status: number; code: string; message: string };

const MAX_SKEW_MS = 15 * 60 * 1000;

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept, everything else %XX upper case). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function parseAuthorization(header: string): Authorization | null {
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(header.trim());
  if (!m) return null;
  const scope = m[1]!.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') return null;
  return { accessKeyId: scope[0]!, date: scope[1]!, region: scope[2]!, service: scope[3]!, signedHeaders: m[2]!.split(';'), signature: m[3]! };
}

/** Header values by lower-case name, as SigV4 canonicalises them (trimmed, inner spaces collapsed, repeats joined by `,`). */
export function headerMap(rawHeaders: string[]): Map<string, string> {
  const out = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const list = out.get(name) ?? [];
    list.push(rawHeaders[i + 1]!.trim().replace(/\s+/g, ' '));
    out.set(name, list);
  }
  return new Map([...out].map(([k, v]) => [k, v.join(',')]));
}

function canonicalUri(path: string): string {
  if (path === '' || path === '/') return '/';
  // non-S3 services: each segment of the (already encoded) path is encoded once more
  return path.split('/').map((seg) => uriEncode(seg)).join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query.split('&').filter((x) => x !== '').map((kv) => {
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1).replace(/\+/g, '%20'));
    return [uriEncode(k), uriEncode(v)] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export function canonicalRequest(req: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const headers = headerMap(req.rawHeaders);
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const canonHeaders = signedHeaders.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('');
  return [req.method.toUpperCase(), canonicalUri(path), canonicalQuery(query), canonHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** Signs a request (used by tests of the verifier itself). */
export function sign(req: SignedRequest, a: Omit<Authorization, 'signature'>, secret: string, amzDate: string): string {
  const canonical = canonicalRequest(req, a.signedHeaders, sha256Hex(req.body));
  const scope = `${a.date}/${a.region}/${a.service}/aws4_request`;
  return createHmac('sha256', signingKey(secret, a.date, a.region, a.service)).update(stringToSign(amzDate, scope, canonical)).digest('hex');
}

function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

/** Verifies a request signed for `service`; the answers mirror AWS's error codes and messages. */
export function verifySigV4(req: SignedRequest, service: string, lookup: (accessKeyId: string) => KnownCredential | null, nowMs = Date.now()): VerifyResult {
  const headers = headerMap(req.rawHeaders);
  const header = headers.get('authorization');
  if (!header) return { ok: false, status: 400, code: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  const auth = parseAuthorization(header);
  if (!auth) return { ok: false, status: 400, code: 'IncompleteSignatureException', message: `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${header.slice(0, 40)}` };
  const amzDate = headers.get('x-amz-date') ?? '';
  const at = parseAmzDate(amzDate);
  if (Number.isNaN(at) || !auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-amz-date')) {
    return { ok: false, status: 400, code: 'IncompleteSignatureException', message: 'Date and host must be signed (X-Amz-Date header missing or malformed)' };
  }
  if (amzDate.slice(0, 8) !== auth.date) return { ok: false, status: 403, code: 'InvalidSignatureException', message: `Credential should be scoped to a valid date, not '${auth.date}'.` };
  if (auth.service !== service) return { ok: false, status: 403, code: 'InvalidSignatureException', message: `Credential should be scoped to correct service: '${service}'.` };
  if (Math.abs(nowMs - at) > MAX_SKEW_MS) return { ok: false, status: 403, code: 'InvalidSignatureException', message: `Signature expired: ${amzDate} is outside the allowed clock skew of 15 min.` };
  const known = lookup(auth.accessKeyId);
  if (!known) return { ok: false, status: 400, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  if (known.sessionToken !== undefined && headers.get('x-amz-security-token') !== known.sessionToken) {
    return { ok: false, status: 400, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  }
  if (known.expiresAtMs !== undefined && nowMs >= known.expiresAtMs) return { ok: false, status: 400, code: 'ExpiredTokenException', message: 'The security token included in the request is expired' };
  const payloadHash = sha256Hex(req.body);
  const claimed = headers.get('x-amz-content-sha256');
  if (claimed && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== payloadHash) {
    return { ok: false, status: 400, code: 'InvalidSignatureException', message: 'The provided x-amz-content-sha256 header does not match what was computed.' };
  }
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const expected = createHmac('sha256', signingKey(known.secretAccessKey, auth.date, auth.region, auth.service))
    .update(stringToSign(amzDate, scope, canonicalRequest(req, auth.signedHeaders, claimed === 'UNSIGNED-PAYLOAD' ? claimed : payloadHash)))
    .digest();
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 403, code: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.' };
  }
  return { ok: true, auth };
}
