/**
 * Pratt parser for the Ruby subset: tokens → AST. Everything is checked here, at configure time:
 * variables must be ones the caller provides, methods must be in the supported set, and the only
 * constants are `Time.at`/`Time.now`, `ENV[…]`/`ENV.fetch`, `Socket.gethostname` and class names as
 * the argument of `is_a?`. Whatever is not recognised is an ExprSyntaxError, never run.
 */
import { ExprSyntaxError, type StrPart, type Token } from './lexer.js';
import { METHOD_NAMES } from './methods.js';
import { translateRegex } from './regex.js';
import { RFloat, RRegex } from './values.js';

export type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'str'; parts: Array<string | Node> }
  | { k: 'var'; name: string }
  | { k: 'arr'; items: Node[] }
  | { k: 'hash'; entries: Array<[Node, Node]> }
  | { k: 'index'; obj: Node; args: Node[]; safe: boolean }
  | { k: 'call'; recv: Node; name: string; args: Node[]; safe: boolean; pos: number }
  | { k: 'not'; x: Node }
  | { k: 'neg'; x: Node }
  | { k: 'bin'; op: string; l: Node; r: Node }
  | { k: 'and' | 'or'; l: Node; r: Node }
  | { k: 'cond'; c: Node; t: Node; f: Node }
  | { k: 'range'; b: Node; e: Node; excl: boolean }
  | { k: 'env'; op: 'get' | 'fetch' | 'has'; args: Node[] }
  | { k: 'timeAt'; x: Node }
  | { k: 'timeNow' }
  | { k: 'hostname' }
  | { k: 'class'; name: string };

/** Names refused with a pointed message (everything unknown is refused anyway). */
const DANGEROUS = new Set(['system', 'exec', 'spawn', 'fork', 'eval', 'send', '__send__', 'public_send', 'instance_eval',
  'instance_exec', 'class_eval', 'module_eval', 'instance_variable_get', 'instance_variable_set', 'define_method', 'method',
  'methods', 'binding', 'require', 'require_relative', 'load', 'open', 'process', 'constructor', '__proto__', 'prototype',
  'exit', 'abort', 'sleep', 'syscall', 'trap', 'at_exit', 'class', 'const_get', 'tap', 'then', 'yield_self', 'globalThis',
  'Kernel', 'Object', 'ObjectSpace', 'File', 'IO', 'Dir', 'Process', 'Module', 'Class', 'BasicObject']);
const KEYWORDS_UNSUPPORTED = new Set(['if', 'unless', 'then', 'else', 'elsif', 'end', 'while', 'until', 'for', 'def', 'module',
  'begin', 'rescue', 'ensure', 'yield', 'return', 'defined', 'do', 'case', 'when', 'self', 'super', 'lambda', 'proc', 'loop', 'puts', 'p', 'print']);
const CLASS_NAMES = new Set(['String', 'Integer', 'Float', 'Numeric', 'Hash', 'Array', 'NilClass', 'TrueClass', 'FalseClass', 'Time', 'Symbol', 'Range', 'Regexp']);
const CLASS_TAKING = new Set(['is_a?', 'kind_of?', 'instance_of?']);

// binding powers
const BP: Record<string, number> = {
  '?': 5, '..': 7, '...': 7, '||': 9, '&&': 11, '==': 13, '!=': 13, '=~': 13, '!~': 13, '<=>': 13,
  '<': 15, '<=': 15, '>': 15, '>=': 15, '+': 19, '-': 19, '*': 21, '/': 21, '%': 21, '**': 25,
};
const NON_ASSOC = new Set(['==', '!=', '=~', '!~', '<=>', '..', '...']);
const MAX_DEPTH = 64;

function refuse(name: string, pos: number, what = 'method'): never {
  if (DANGEROUS.has(name)) throw new ExprSyntaxError(`'${name}' is not allowed`, pos);
  if (KEYWORDS_UNSUPPORTED.has(name)) throw new ExprSyntaxError(`'${name}' is not supported`, pos);
  throw new ExprSyntaxError(`unknown ${what} '${name}'`, pos);
}

export class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly toks: Token[], private readonly vars: ReadonlySet<string>) {}

  parseAll(): Node {
    const n = this.expr(0);
    const t = this.peek();
    if (t.t !== 'eof') this.unexpected(t);
    return n;
  }

  private peek(o = 0): Token { return this.toks[Math.min(this.i + o, this.toks.length - 1)]!; }
  private next(): Token { return this.toks[this.i++]!; }
  private isOp(v: string, o = 0): boolean { const t = this.peek(o); return t.t === 'op' && t.v === v; }
  private isWord(v: string): boolean { const t = this.peek(); return t.t === 'ident' && t.v === v; }

  private expect(v: string): void {
    if (!this.isOp(v)) this.unexpected(this.peek(), `'${v}'`);
    this.i++;
  }

  private unexpected(t: Token, wanted?: string): never {
    const what = t.t === 'eof' ? 'end of expression' : t.t === 'op' || t.t === 'ident' || t.t === 'const' ? `'${t.v}'` : t.t;
    if (t.t === 'op' && t.v === '{' && !wanted) throw new ExprSyntaxError('blocks ({ … }) are not supported', t.pos);
    throw new ExprSyntaxError(`unexpected ${what}${wanted ? `, expected ${wanted}` : ''}`, t.pos);
  }

  /** Full expression incl. `and`/`or`/`not`. */
  private expr(minBp: number): Node {
    if (++this.depth > MAX_DEPTH) throw new ExprSyntaxError('expression nested too deeply', this.peek().pos);
    try {
      let left: Node;
      if (this.isWord('not')) { this.i++; left = { k: 'not', x: this.expr(2) }; } else left = this.binary(0);
      while (minBp <= 1 && (this.isWord('and') || this.isWord('or'))) {
        const op = this.next() as { v: string };
        const right = this.isWord('not') ? (this.i++, { k: 'not' as const, x: this.binary(0) }) : this.binary(0);
        left = { k: op.v === 'and' ? 'and' : 'or', l: left, r: right };
      }
      return left;
    } finally {
      this.depth--;
    }
  }

  private binary(minBp: number): Node {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.t !== 'op') break;
      const bp = BP[t.v];
      if (bp === undefined || bp < minBp) break;
      this.i++;
      if (t.v === '?') {
        const a = this.expr(0);
        this.expect(':');
        left = { k: 'cond', c: left, t: a, f: this.binary(bp) };
        continue;
      }
      if (t.v === '..' || t.v === '...') {
        const endless = this.isOp(']') || this.isOp(')') || this.peek().t === 'eof';
        left = { k: 'range', b: left, e: endless ? { k: 'lit', v: null } : this.binary(bp + 1), excl: t.v === '...' };
        continue;
      }
      const right = this.binary(t.v === '**' ? bp : bp + 1);
      if (t.v === '&&' || t.v === '||') left = { k: t.v === '&&' ? 'and' : 'or', l: left, r: right };
      else left = { k: 'bin', op: t.v, l: left, r: right };
      const after = this.peek();
      if (NON_ASSOC.has(t.v) && after.t === 'op' && BP[after.v] === bp) this.unexpected(after);
    }
    return left;
  }

  private unary(): Node {
    const t = this.peek();
    if (t.t === 'op' && t.v === '!') { this.i++; return { k: 'not', x: this.unary() }; }
    if (t.t === 'op' && (t.v === '-' || t.v === '+')) {
      this.i++;
      const n = this.peek();
      // `-2.abs` is (-2).abs, `-2 ** 2` is -(2 ** 2): fold the sign into a literal unless `**` follows
      if ((n.t === 'int' || n.t === 'float') && !n.sp && !this.isOp('**', 1)) {
        this.i++;
        const v = t.v === '-' ? -n.v : n.v;
        return this.postfix({ k: 'lit', v: n.t === 'float' ? new RFloat(v) : v });
      }
      const x = this.binary(23);
      return t.v === '-' ? { k: 'neg', x } : x;
    }
    return this.postfix(this.primary());
  }

  private postfix(node: Node): Node {
    for (;;) {
      const t = this.peek();
      if (t.t !== 'op') return node;
      if (t.v === '[') {
        this.i++;
        node = { k: 'index', obj: node, args: this.list(']'), safe: false };
      } else if (t.v === '.' || t.v === '&.') {
        this.i++;
        const m = this.next();
        if (m.t !== 'ident') this.unexpected(m, 'a method name');
        if (!METHOD_NAMES.has(m.v)) refuse(m.v, m.pos);
        const args = this.isOp('(') ? (this.i++, this.callArgs(m.v)) : [];
        if (this.isOp('{')) throw new ExprSyntaxError('blocks ({ … }) are not supported', this.peek().pos);
        node = { k: 'call', recv: node, name: m.v, args, safe: t.v === '&.', pos: m.pos };
      } else {
        return node;
      }
    }
  }

  private callArgs(name: string): Node[] {
    if (CLASS_TAKING.has(name)) {
      const c = this.next();
      if (c.t !== 'const' || !CLASS_NAMES.has(c.v)) this.unexpected(c, 'a class name');
      this.expect(')');
      return [{ k: 'class', name: c.v }];
    }
    return this.list(')');
  }

  /** Comma-separated expressions up to `close` (consumed). */
  private list(close: string): Node[] {
    const items: Node[] = [];
    while (!this.isOp(close)) {
      items.push(this.expr(0));
      if (!this.isOp(',')) break;
      this.i++;
    }
    this.expect(close);
    return items;
  }

  private primary(): Node {
    const t = this.next();
    switch (t.t) {
      case 'int': return { k: 'lit', v: t.v };
      case 'float': return { k: 'lit', v: new RFloat(t.v) };
      case 'str': return this.string(t.parts);
      case 'regex': {
        try {
          return { k: 'lit', v: new RRegex(t.source, translateRegex(t.source, t.flags)) };
        } catch (e) {
          throw new ExprSyntaxError(`invalid regexp /${t.source}/: ${(e as Error).message}`, t.pos);
        }
      }
      case 'ident': return this.identifier(t.v, t.pos);
      case 'const': return this.constant(t.v, t.pos);
      case 'op':
        if (t.v === '(') {
          const n = this.expr(0);
          this.expect(')');
          return n;
        }
        if (t.v === '[') return { k: 'arr', items: this.list(']') };
        if (t.v === '{') return this.hash();
        return this.unexpected(t);
      default: return this.unexpected(t);
    }
  }

  private identifier(name: string, pos: number): Node {
    if (name === 'nil') return { k: 'lit', v: null };
    if (name === 'true') return { k: 'lit', v: true };
    if (name === 'false') return { k: 'lit', v: false };
    if (this.vars.has(name)) {
      if (this.isOp('(') && !this.peek().sp) throw new ExprSyntaxError(`'${name}' is a variable, not a method`, pos);
      return { k: 'var', name };
    }
    return refuse(name, pos, 'identifier');
  }

  private constant(name: string, pos: number): Node {
    const method = (): { v: string; pos: number } => {
      if (!this.isOp('.')) this.unexpected(this.peek(), `'.' after ${name}`);
      this.i++;
      const m = this.next();
      if (m.t !== 'ident') this.unexpected(m, 'a method name');
      return m;
    };
    if (name === 'ENV') {
      if (this.isOp('[')) {
        this.i++;
        const args = this.list(']');
        if (args.length !== 1) throw new ExprSyntaxError('ENV[…] takes one name', pos);
        return this.postfix({ k: 'env', op: 'get', args });
      }
      const m = method();
      const op = m.v === 'fetch' ? 'fetch' : ['key?', 'has_key?', 'include?'].includes(m.v) ? 'has' : null;
      if (!op) refuse(m.v, m.pos);
      this.expect('(');
      const args = this.list(')');
      if (args.length < 1 || args.length > (op === 'fetch' ? 2 : 1)) throw new ExprSyntaxError(`wrong number of arguments to ENV.${m.v}`, m.pos);
      return this.postfix({ k: 'env', op, args });
    }
    if (name === 'Time') {
      const m = method();
      if (m.v === 'now') return this.postfix({ k: 'timeNow' });
      if (m.v !== 'at') refuse(m.v, m.pos);
      this.expect('(');
      const args = this.list(')');
      if (args.length !== 1) throw new ExprSyntaxError('Time.at takes one argument', m.pos);
      return this.postfix({ k: 'timeAt', x: args[0]! });
    }
    if (name === 'Socket') {
      const m = method();
      if (m.v !== 'gethostname') refuse(m.v, m.pos);
      return this.postfix({ k: 'hostname' });
    }
    if (DANGEROUS.has(name)) throw new ExprSyntaxError(`'${name}' is not allowed`, pos);
    throw new ExprSyntaxError(`constant '${name}' is not supported (only Time, ENV and Socket.gethostname)`, pos);
  }

  private hash(): Node {
    const entries: Array<[Node, Node]> = [];
    while (!this.isOp('}')) {
      const t = this.peek();
      let key: Node;
      if ((t.t === 'ident' || t.t === 'str') && this.isOp(':', 1) && !this.peek(1).sp) {
        this.i += 2;
        key = t.t === 'str' ? this.string(t.parts) : { k: 'lit', v: (t as { v: string }).v };
      } else {
        key = this.expr(0);
        this.expect('=>');
      }
      entries.push([key, this.expr(0)]);
      if (!this.isOp(',')) break;
      this.i++;
    }
    this.expect('}');
    return { k: 'hash', entries };
  }

  /** A string literal; `#{…}` parts are parsed with the same variables. */
  string(parts: StrPart[]): Node {
    if (parts.length === 1 && typeof parts[0] === 'string') return { k: 'lit', v: parts[0] };
    return {
      k: 'str',
      parts: parts.map((p) => {
        if (typeof p === 'string') return p;
        if (p.tokens.length === 1) return { k: 'lit', v: null } as Node; // empty #{}
        return new Parser(p.tokens, this.vars).parseAll();
      }),
    };
  }
}
