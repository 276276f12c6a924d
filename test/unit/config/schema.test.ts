import { describe, expect, it } from 'vitest';
import { newElement, type ConfigElement } from '../../../src/config/node.js';
import { defineParams, p, resolveParams } from '../../../src/config/schema.js';
import { renderSchema } from '../../../src/config/docs.js';

function el(name: string, params: Record<string, string>, children: ConfigElement[] = [], arg = ''): ConfigElement {
  const e = newElement(name, arg, 'test.conf', 10);
  let line = 11;
  for (const [k, v] of Object.entries(params)) e.params.set(k, { value: v, file: 'test.conf', line: line++ });
  e.elements.push(...children);
  return e;
}

const schema = defineParams({
  port: p.integer({ default: 24224, min: 1, max: 65535, desc: 'port' }),
  host: p.string({ required: true, desc: 'host' }),
  timeout: p.time({ default: 60, desc: 'timeout' }),
  limit: p.size({ default: null, desc: 'limit' }),
  flag: p.bool({ default: false, desc: 'flag' }),
  mode: p.enum(['a', 'b'] as const, { default: 'a', desc: 'mode' }),
  keys: p.array({ default: [], desc: 'keys' }),
  nums: p.array({ default: null, valueType: 'integer', desc: 'nums' }),
  secret_key: p.string({ default: null, secret: true, desc: 'key' }),
  old: p.integer({ default: 1, alias: ['legacy_old'], desc: 'renamed' }),
  server: p.section({ desc: 'servers', multi: true }, {
    name: p.string({ required: true, desc: 'name' }),
    weight: p.integer({ default: 60, desc: 'weight' }),
  }),
  single: p.section({ desc: 'one' }, { x: p.integer({ default: 1, desc: 'x' }) }),
});

describe('resolveParams', () => {
  it('applies defaults, coerces values and infers types', () => {
    const r = resolveParams(schema, el('match', { host: 'h', timeout: '5m', limit: '8m', flag: '', keys: 'a,b', nums: '[1,2]' }));
    expect(r.problems).toEqual([]);
    const c = r.value;
    expect(c.port).toBe(24224);
    expect(c.host).toBe('h');
    expect(c.timeout).toBe(300);
    expect(c.limit).toBe(8 * 1024 * 1024);
    expect(c.flag).toBe(true);
    expect(c.mode).toBe('a');
    expect(c.keys).toEqual(['a', 'b']);
    expect(c.nums).toEqual([1, 2]);
    expect(c.server).toEqual([]);
    expect(c.single).toBeNull();
  });
  it('reports every wrong value with file, line and parameter', () => {
    const r = resolveParams(schema, el('match', { port: '70000', timeout: 'soon', mode: 'c' }, [], 'app.**'), { type: 'forward' });
    const byParam = Object.fromEntries(r.problems.map((x) => [x.param, x]));
    expect(Object.keys(byParam).sort()).toEqual(['host', 'mode', 'port', 'timeout']);
    expect(byParam.port!.message).toMatch(/at most 65535/);
    expect(byParam.port!.line).toBe(11);
    expect(byParam.port!.file).toBe('test.conf');
    expect(byParam.port!.directive).toBe('<match app.**>');
    expect(byParam.host!.message).toBe('is required');
    expect(byParam.mode!.message).toMatch(/one of a, b/);
  });
  it('warns about unknown parameters with the nearest known name', () => {
    const r = resolveParams(schema, el('match', { host: 'h', prot: '1', '@type': 'x' }));
    expect(r.problems).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/'prot' is not used \(did you mean 'port'\?\)/);
  });
  it('resolves multi and single sections with their args', () => {
    const r = resolveParams(schema, el('match', { host: 'h' }, [el('server', { name: 'a' }), el('server', { name: 'b', weight: '10' }), el('single', {}, [], 'arg1')]));
    expect(r.problems).toEqual([]);
    expect(r.value.server.map((s) => [s.name, s.weight])).toEqual([['a', 60], ['b', 10]]);
    expect(r.value.single?.arg).toBe('arg1');
    expect(r.value.single?.x).toBe(1);
  });
  it('reports problems inside sections and duplicate single sections', () => {
    const r = resolveParams(schema, el('match', { host: 'h' }, [el('server', {}), el('single', {}), el('single', {})]));
    expect(r.problems.map((x) => x.message)).toEqual(expect.arrayContaining(['is required', 'only one <single> section is allowed']));
  });
  it('accepts aliases with a deprecation warning', () => {
    const r = resolveParams(schema, el('match', { host: 'h', legacy_old: '5' }));
    expect(r.value.old).toBe(5);
    expect(r.warnings.join()).toMatch(/deprecated/);
  });
  it('honours use_default and use_nil', () => {
    const e = el('match', { host: 'h' });
    e.params.set('port', { value: '', special: 'default', file: 'f', line: 1 });
    e.params.set('limit', { value: '', special: 'nil', file: 'f', line: 2 });
    expect(resolveParams(schema, e).value.port).toBe(24224);
    expect(resolveParams(schema, e).value.limit).toBeNull();
    e.params.set('timeout', { value: '', special: 'nil', file: 'f', line: 3 });
    expect(resolveParams(schema, e).problems[0]!.message).toMatch(/nil is specified/);
  });
  it('renders help text from the same schema', () => {
    const text = renderSchema(schema);
    expect(text).toMatch(/port {2}integer, default 24224 \(min 1; max 65535\): port/);
    expect(text).toMatch(/<server> {2}section, multi/);
    expect(text).toMatch(/secret_key {2}string, default nil \(secret\)/);
  });
});
