/**
 * The safe evaluator for the Ruby expressions inside record_transformer's and record_modifier's
 * `${…}`. An expression is tokenized and parsed once, at configure time, into a tree whose every
 * variable, method and constant is in the supported set (else ExprSyntaxError); evaluating it walks
 * that tree over plain values. There is no eval, no Function, no vm, and no path to JS globals or
 * prototypes: hashes are read by own key only and methods come from fixed tables.
 */
import { RecordError } from '../core/errors.js';
import { evaluate, type Scope } from './interpreter.js';
import { ExprSyntaxError, readInterpolated, tokenize } from './lexer.js';
import { Parser, type Node } from './parser.js';
import { split } from './regex.js';
import { toData } from './values.js';

export { ExprSyntaxError } from './lexer.js';
export type { Scope } from './interpreter.js';
export { RTime, REventTime, toData, toS, inspect } from './values.js';
export { timeAt } from './time.js';

export interface CompiledExpr {
  readonly source: string;
  /** Evaluates to an evaluator value (see values.ts; `toData` turns it into record data). Throws RecordError. */
  run(scope: Scope): unknown;
}

/** Runs a tree; anything unexpected (a JS RangeError …) becomes a RecordError too. */
function guarded(node: Node, scope: Scope): unknown {
  try {
    return evaluate(node, scope);
  } catch (e) {
    if (e instanceof RecordError) throw e;
    throw new RecordError(e instanceof Error ? e.message : String(e));
  }
}

/** Parses one expression over the given variable names. Throws ExprSyntaxError naming the problem. */
export function compileExpr(source: string, variables: Iterable<string>): CompiledExpr {
  const node = naming(source, () => {
    const tokens = tokenize(source);
    if (tokens.length === 1) throw new ExprSyntaxError('empty expression', 0);
    return new Parser(tokens, new Set(variables)).parseAll();
  });
  return { source, run: (scope) => guarded(node, scope) };
}

/** Runs a parse, stamping any syntax error with the text it was about. */
function naming<T>(source: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ExprSyntaxError && !e.source) e.source = source;
    throw e;
  }
}

/** Ruby's `tag.split('.')`: empty middle parts kept, trailing ones dropped. */
export function splitTag(tag: string): string[] {
  return split(tag, '.', 0);
}

export interface TemplateOptions {
  variables: Iterable<string>;
  /** A value that is exactly one `${…}` yields the raw result instead of its string form. */
  typecast: boolean;
  /** Text with no `${` is kept verbatim (record_modifier) instead of read as a double-quoted string. */
  verbatimWithoutPlaceholder: boolean;
}

export interface Template {
  readonly source: string;
  /** True when the value needs no evaluation (`expand` ignores its scope). */
  readonly constant: boolean;
  /** The expanded value as record data. Throws RecordError "failed to expand `…` : error = …". */
  expand(scope: Scope): unknown;
}

/**
 * Compiles a `<record>` value with Ruby `${…}` parts, as Fluentd does: one whole-value `${expr}` is
 * the expression itself; anything else is a double-quoted Ruby string where `${` (and `#{`) open
 * interpolations and backslash escapes apply.
 */
export function compileTemplate(text: string, opts: TemplateOptions): Template {
  const vars = new Set(opts.variables);
  const count = text.split('${').length - 1;
  const node = naming(text, (): Node => {
    if (opts.typecast && count === 1 && text.startsWith('${') && text.endsWith('}')) {
      const tokens = tokenize(text.slice(2, -1));
      if (tokens.length === 1) throw new ExprSyntaxError('empty expression', 2);
      return new Parser(tokens, vars).parseAll();
    }
    if (count === 0 && opts.verbatimWithoutPlaceholder) return { k: 'lit', v: text };
    return new Parser([], vars).string(readInterpolated(text, 0, null, ['${', '#{']).parts);
  });
  if (node.k === 'lit') {
    const value = toData(node.v);
    return { source: text, constant: true, expand: () => value };
  }
  const tree = node;
  return {
    source: text,
    constant: false,
    expand(scope) {
      try {
        return toData(guarded(tree, scope));
      } catch (e) {
        throw new RecordError(`failed to expand \`${text}\` : error = ${(e as Error).message}`);
      }
    },
  };
}
