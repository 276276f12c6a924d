/**
 * A small strftime for log lines, stdout output and (later) buffer placeholders. Works on seconds
 * plus nanoseconds so `%N` is exact. `zone`: 'local', 'utc', or a fixed offset like '+0900'.
 */
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export type Zone = 'local' | 'utc' | string;

function pad(n: number, w = 2, c = '0'): string {
  return String(n).padStart(w, c);
}

/** Parses '+09:00' / '-0300' / 'UTC' into minutes east of UTC; null when not a fixed offset. */
export function parseOffset(zone: string): number | null {
  if (zone === 'UTC' || zone === 'utc' || zone === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!m) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

export function strftime(format: string, sec: number, nsec = 0, zone: Zone = 'local'): string {
  let offsetMin: number;
  if (zone === 'local') offsetMin = -new Date(sec * 1000).getTimezoneOffset();
  else if (zone === 'utc') offsetMin = 0;
  else offsetMin = parseOffset(zone) ?? 0;
  // a Date whose UTC fields are the wall-clock fields in the zone
  const d = new Date((sec + offsetMin * 60) * 1000);
  const Y = d.getUTCFullYear(), m = d.getUTCMonth(), day = d.getUTCDate();
  const H = d.getUTCHours(), M = d.getUTCMinutes(), S = d.getUTCSeconds(), wd = d.getUTCDay();
  const sign = offsetMin >= 0 ? '+' : '-';
  const a = Math.abs(offsetMin);
  const z = `${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
  return format.replace(/%(-?)([a-zA-Z%]|:z|\d*N)/g, (_all, flag: string, c: string) => {
    const p2 = (n: number) => (flag === '-' ? String(n) : pad(n));
    switch (c) {
      case 'Y': return String(Y);
      case 'y': return pad(Y % 100);
      case 'm': return p2(m + 1);
      case 'd': return p2(day);
      case 'e': return pad(day, 2, ' ');
      case 'H': return p2(H);
      case 'I': return p2(H % 12 === 0 ? 12 : H % 12);
      case 'M': return p2(M);
      case 'S': return p2(S);
      case 'L': return pad(Math.floor(nsec / 1e6), 3);
      case 'p': return H < 12 ? 'AM' : 'PM';
      case 'z': return z;
      case ':z': return `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
      case 'Z': return offsetMin === 0 && zone !== 'local' ? 'UTC' : z;
      case 'j': return pad(Math.floor((Date.UTC(Y, m, day) - Date.UTC(Y, 0, 1)) / 86400000) + 1, 3);
      case 'a': return DAYS[wd]!.slice(0, 3);
      case 'A': return DAYS[wd]!;
      case 'b': case 'h': return MONTHS[m]!.slice(0, 3);
      case 'B': return MONTHS[m]!;
      case 's': return String(sec);
      case 'F': return `${Y}-${pad(m + 1)}-${pad(day)}`;
      case 'T': return `${pad(H)}:${pad(M)}:${pad(S)}`;
      case 'u': return String(wd === 0 ? 7 : wd);
      case 'w': return String(wd);
      case '%': return '%';
      default: {
        const nm = /^(\d*)N$/.exec(c);
        if (nm) {
          const digits = nm[1] ? Number(nm[1]) : 9;
          return pad(nsec, 9).slice(0, digits);
        }
        return `%${flag}${c}`;
      }
    }
  });
}
