/** Walks a parsed expression over plain values with Ruby's semantics (truthiness, Integer division …). */
import { callMethod, index, int, MAX_STRING, str } from './methods.js';
import type { Node } from './parser.js';
import { timeArith, timeAt, timeNow } from './time.js';
import {
  className, compare, describe, equal, fail, float, isArr, isFloat, isInt, isNil, isNum, isStr, numOf,
  REventTime, RRange, RRegex, RTime, toS, truthy,
} from './values.js';

/** What an expression can see besides literals. */
export interface Scope {
  /** Variable values by name (only names the expression was compiled with are read). */
  vars: Readonly<Record<string, unknown>>;
  hostname: string;
  /** `ENV`; only own keys are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** Wall clock for `Time.now`, in ms. */
  nowMs(): number;
}


function envGet(scope: Scope, key: unknown): string | null {
  const k = str(key);
  return Object.hasOwn(scope.env, k) ? (scope.env[k] ?? null) : null;
}

export function evaluate(n: Node, scope: Scope): unknown {
  switch (n.k) {
    case 'lit': return n.v;
    case 'str': {
      let s = '';
      for (const p of n.parts) s += typeof p === 'string' ? p : toS(evaluate(p, scope));
      return s;
    }
    case 'var': return Object.hasOwn(scope.vars, n.name) ? (scope.vars[n.name] ?? null) : null;
    case 'arr': return n.items.map((x) => evaluate(x, scope));
    case 'hash': {
      const m = new Map<unknown, unknown>();
      for (const [k, v] of n.entries) m.set(evaluate(k, scope), evaluate(v, scope));
      return m;
    }
    case 'index': {
      const obj = evaluate(n.obj, scope);
      return index(obj, n.args.map((x) => evaluate(x, scope)));
    }
    case 'call': {
      const recv = evaluate(n.recv, scope);
      if (n.safe && isNil(recv)) return null;
      return callMethod(recv, n.name, n.args.map((x) => evaluate(x, scope)));
    }
    case 'not': return !truthy(evaluate(n.x, scope));
    case 'neg': {
      const v = evaluate(n.x, scope);
      if (isInt(v)) return -v;
      if (isNum(v)) return float(-numOf(v));
      return fail(`undefined method \`-@' for ${describe(v)}`);
    }
    case 'and': { const l = evaluate(n.l, scope); return truthy(l) ? evaluate(n.r, scope) : l; }
    case 'or': { const l = evaluate(n.l, scope); return truthy(l) ? l : evaluate(n.r, scope); }
    case 'cond': return truthy(evaluate(n.c, scope)) ? evaluate(n.t, scope) : evaluate(n.f, scope);
    case 'range': return new RRange(evaluate(n.b, scope), evaluate(n.e, scope), n.excl);
    case 'bin': return binary(n.op, evaluate(n.l, scope), evaluate(n.r, scope));
    case 'env': {
      if (n.op === 'get') return envGet(scope, evaluate(n.args[0]!, scope));
      const key = evaluate(n.args[0]!, scope);
      const v = envGet(scope, key);
      if (n.op === 'has') return v !== null;
      if (v !== null) return v;
      if (n.args.length > 1) return evaluate(n.args[1]!, scope);
      return fail(`key not found: ${JSON.stringify(toS(key))}`);
    }
    case 'timeAt': return timeAt(evaluate(n.x, scope));
    case 'timeNow': return timeNow(scope.nowMs());
    case 'hostname': return scope.hostname;
    case 'class': return n.name;
  }
}

function arith(op: string, a: unknown, b: unknown): unknown {
  if (!isNum(b) && !(b instanceof REventTime)) {
    return fail(isNil(b) ? `nil can't be coerced into ${className(a)}` : `${className(b)} can't be coerced into ${className(a)}`);
  }
  const x = numOf(a), y = numOf(b);
  const ints = !isFloat(a) && !isFloat(b);
  switch (op) {
    case '+': return ints ? x + y : float(x + y);
    case '-': return ints ? x - y : float(x - y);
    case '*': return ints ? x * y : float(x * y);
    case '/':
      if (ints) return y === 0 ? fail('divided by 0') : Math.floor(x / y);
      return float(x / y);
    case '%':
      if (ints && y === 0) return fail('divided by 0');
      return ints ? x - y * Math.floor(x / y) : float(x - y * Math.floor(x / y));
    case '**': return ints && y >= 0 ? x ** y : float(x ** y);
  }
  return fail(`undefined method \`${op}'`);
}

export function binary(op: string, a: unknown, b: unknown): unknown {
  switch (op) {
    case '==': return equal(a, b);
    case '!=': return !equal(a, b);
    case '<': return compare(a, b) < 0;
    case '<=': return compare(a, b) <= 0;
    case '>': return compare(a, b) > 0;
    case '>=': return compare(a, b) >= 0;
    case '<=>': {
      try { return compare(a, b); } catch { return null; }
    }
    case '=~': case '!~': {
      if (!isStr(a) && !isNil(a)) return fail(`undefined method \`=~' for ${describe(a)}`);
      if (!(b instanceof RRegex)) return fail(`wrong argument type ${className(b)} (expected Regexp)`);
      const m = isNil(a) ? null : b.re.exec(a);
      if (op === '!~') return m === null;
      return m === null ? null : Array.from(a!.slice(0, m.index)).length;
    }
  }
  if (isNum(a) || a instanceof REventTime) return arith(op, a, b);
  if (a instanceof RTime && (op === '+' || op === '-')) return timeArith(op, a, b);
  if (isStr(a)) {
    if (op === '+') return a + str(b);
    if (op === '*') {
      const n = int(b);
      if (n < 0) return fail('negative argument');
      if (a.length * n > MAX_STRING) return fail('argument too big');
      return a.repeat(n);
    }
    if (op === '%') return fail('String#% (format) is not supported');
  }
  if (isArr(a)) {
    if (op === '+') return isArr(b) ? [...a, ...b] : fail(`no implicit conversion of ${className(b)} into Array`);
    if (op === '-') return isArr(b) ? a.filter((x) => !b.some((y) => equal(x, y))) : fail(`no implicit conversion of ${className(b)} into Array`);
    if (op === '*' && isStr(b)) return callMethod(a, 'join', [b]);
    if (op === '*') {
      const n = int(b);
      if (n < 0) return fail('negative argument');
      if (a.length * n > MAX_STRING) return fail('argument too big');
      return Array.from({ length: n }, () => a).flat();
    }
  }
  return fail(`undefined method \`${op}' for ${describe(a)}`);
}
