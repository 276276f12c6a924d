/**
 * Framing for the forward protocol's JSON mode (a connection whose first byte is `{` or `[`): finds
 * where each top-level JSON array/object ends, resumably, without parsing it. Same interface as
 * ValueScanner so the decoder frames both formats alike. Bracket mismatches are left to JSON.parse.
 */
import { ProtocolError } from '../core/errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(ch: number): boolean {
  return ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09;
}

export class JsonScanner {
  pos = 0;
  need = 0;
  private depth = 0;
  private inString = false;
  private escape = false;

  reset(offset: number): void {
    this.pos = offset;
    this.need = offset + 1;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
  }

  rebase(delta: number): void {
    this.pos += delta;
    this.need += delta;
  }

  /** True when a whole top-level value ends at `pos`. Leading whitespace belongs to the value. */
  scan(buf: Uint8Array, end: number, _maxLength?: number, _discard?: boolean): boolean {
    let p = this.pos;
    while (p < end) {
      const ch = buf[p++]!;
      if (this.depth === 0) {
        if (isSpace(ch)) continue;
        if (ch !== 0x7b && ch !== 0x5b) throw new ProtocolError(`invalid JSON: expected an array or an object, got ${JSON.stringify(String.fromCharCode(ch))}`);
        this.depth = 1;
      } else if (this.inString) {
        if (this.escape) this.escape = false;
        else if (ch === BACKSLASH) this.escape = true;
        else if (ch === QUOTE) this.inString = false;
      } else if (ch === QUOTE) {
        this.inString = true;
      } else if (ch === 0x7b || ch === 0x5b) {
        this.depth++;
      } else if ((ch === 0x7d || ch === 0x5d) && --this.depth === 0) {
        this.pos = p;
        return true;
      }
    }
    this.pos = p;
    this.need = p + 1;
    return false;
  }
}
