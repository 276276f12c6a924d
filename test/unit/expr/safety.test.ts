/**
 * The evaluator's safety: hostile or unsupported expressions are rejected when they are parsed
 * (configure time), and nothing at run time reaches JS globals or prototypes.
 */
import { describe, expect, it } from 'vitest';
import { compileExpr, compileTemplate, ExprSyntaxError, toData, type Scope } from '../../../src/expr/index.js';

const VARS = ['record', 'tag', 'time', 'tag_parts', 'tag_prefix', 'tag_suffix', 'hostname'];

/** [expression, a fragment of the reason]. */
const HOSTILE: Array<[string, string]> = [
  ["system('ls')", "'system' is not allowed"],
  ['system("rm -rf /")', "'system' is not allowed"],
  ['`ls`', 'backticks'],
  ['%x(ls)', 'unexpected'],
  ['exec("sh")', "'exec' is not allowed"],
  ['spawn("sh")', "'spawn' is not allowed"],
  ['eval("1")', "'eval' is not allowed"],
  ['instance_eval("1")', "'instance_eval' is not allowed"],
  ['process', "'process' is not allowed"],
  ['process.exit(1)', "'process' is not allowed"],
  ['constructor', "'constructor' is not allowed"],
  ['__proto__', "'__proto__' is not allowed"],
  ['record.__proto__', "'__proto__' is not allowed"],
  ['record.constructor', "'constructor' is not allowed"],
  ['"".constructor', "'constructor' is not allowed"],
  ['"".constructor.constructor("return process")()', "'constructor' is not allowed"],
  ['record.prototype', "'prototype' is not allowed"],
  ['require "socket"', "'require' is not allowed"],
  ["require('child_process')", "'require' is not allowed"],
  ['record.class', "'class' is not allowed"],
  ['record.send(:x)', 'symbols'],
  ['record.send("x")', "'send' is not allowed"],
  ['record.__send__("x")', "'__send__' is not allowed"],
  ['record.public_send("x")', "'public_send' is not allowed"],
  ['ENV.send(:x)', 'symbols'],
  ['ENV.send("x")', "'send' is not allowed"],
  ['ENV', 'expected'],
  ['ENV.to_h', "unknown method 'to_h'"],
  ['Kernel.system("ls")', "'Kernel' is not allowed"],
  ['File.read("/etc/passwd")', "'File' is not allowed"],
  ['IO.popen("ls")', "'IO' is not allowed"],
  ['Object.new', "'Object' is not allowed"],
  ['Process.pid', "'Process' is not allowed"],
  ['Digest::MD5.hexdigest("x")', '(::)'],
  ['::File', '(::)'],
  ['$stdout', 'global variables'],
  ['$0', 'global variables'],
  ['@foo', 'instance variables'],
  ['x = 1', 'assignment'],
  ['record["a"] = 1', 'assignment'],
  ['record["a"]; system("ls")', 'multiple statements'],
  ['record.map { |k, v| v }', 'blocks'],
  ['record.each do |k| end', 'blocks'],
  ['record.upcase!', 'bang methods'],
  ['def x() 1 end', "'def' is not supported"],
  ['if true then 1 else 2 end', "'if' is not supported"],
  ['globalThis', "'globalThis' is not allowed"],
  ['Function("return 1")', "constant 'Function' is not supported"],
  ['foo', "unknown identifier 'foo'"],
  ['record.foo', "unknown method 'foo'"],
  ['record.tap', "'tap' is not allowed"],
  ['tag(1)', 'is a variable'],
  ['Time.now.to_s.instance_variable_get("@x")', "'instance_variable_get' is not allowed"],
  ['Time.parse("x")', "unknown method 'parse'"],
  ['record[', 'unexpected end of expression'],
  ['record["a"', "expected ']'"],
  ['record["a', 'unterminated string'],
  ['(1', "expected ')'"],
  ['1 +', 'unexpected end of expression'],
  ['/abc', 'unterminated regexp'],
  ['"a" =~ /(?i)a/', 'not supported'],
  ['"a" =~ /#{tag}/', 'interpolation in a regexp'],
  ['"a" =~ /[[:constructor:]]/', 'unsupported character class'],
  ['', 'empty expression'],
];

describe('hostile and unsupported expressions are rejected at parse time', () => {
  for (const [src, reason] of HOSTILE) {
    it(src || '(empty)', () => {
      let err: unknown;
      try {
        compileExpr(src, VARS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ExprSyntaxError);
      expect((err as Error).message).toContain(reason);
      expect((err as ExprSyntaxError).source).toBe(src);
    });
  }

  it('inside templates too, naming the whole value', () => {
    for (const text of ['${system("ls")}', 'x ${`id`} y', '#{process}', '${record.constructor}']) {
      let err: unknown;
      try {
        compileTemplate(text, { variables: VARS, typecast: true, verbatimWithoutPlaceholder: false });
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(ExprSyntaxError);
      expect((err as ExprSyntaxError).source).toBe(text);
    }
  });

  it('variables are only the ones the caller provides', () => {
    expect(() => compileExpr('tag_prefix[0]', ['tag', 'time', 'record', 'tag_parts'])).toThrow("unknown identifier 'tag_prefix'");
    expect(() => compileExpr('hostname', ['tag'])).toThrow("unknown identifier 'hostname'");
  });
});

describe('no run-time path to JS prototypes or globals', () => {
  const record: Record<string, unknown> = JSON.parse('{"a":{"b":1},"list":[1,2]}');
  const s: Scope = { vars: { record, tag: 't', tag_parts: ['t'] }, hostname: 'h', env: { X: '1' }, nowMs: () => 0 };
  const run = (src: string) => toData(compileExpr(src, VARS).run(s));

  it('hash reads see own keys only', () => {
    for (const k of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      expect(run(`record["${k}"]`), k).toBe(null);
      expect(run(`record["a"]["${k}"]`), k).toBe(null);
      expect(run(`record.dig("a", "${k}")`), k).toBe(null);
      expect(run(`record.key?("${k}")`), k).toBe(false);
      expect(run(`ENV["${k}"]`), k).toBe(null);
    }
  });

  it('array and string reads take integers only', () => {
    expect(() => run('record["list"]["length"]')).toThrow('no implicit conversion of String into Integer');
    expect(run('record["list"]["length".size]')).toBe(null);
    expect(run('"abc"["constructor"]')).toBe(null);
  });

  it('hash literals with hostile keys build plain data', () => {
    const v = run('{"__proto__" => {"polluted" => true}, "constructor" => 1}') as Record<string, unknown>;
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });
});
