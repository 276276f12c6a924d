/** in_http CORS: which origins `cors_allow_origins` lets through. */

/** True when `origin` is listed, or matches an entry with one `*` wildcard (`https://*.example.com`). */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (origin === undefined) return false;
  if (allowed.includes(origin)) return true;
  return allowed.some((entry) => {
    const star = entry.indexOf('*');
    if (star === -1) return false;
    const head = entry.slice(0, star);
    const tail = entry.slice(star + 1);
    return origin.length >= head.length + tail.length && origin.startsWith(head) && origin.endsWith(tail);
  });
}
