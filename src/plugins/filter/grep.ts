/**
 * `@type grep`: keeps or drops events by regular expressions on record fields (Fluentd core
 * filter_grep). Top-level `<regexp>`s must all match, any top-level `<exclude>` drops; `<and>` and
 * `<or>` group either regexps or excludes. The old `regexpN`/`excludeN` (`key pattern`) still work.
 * A field is matched as Ruby's `to_s` of its value (missing → ""); keys are record_accessor paths.
 */
import { defineParams, p, type ParamsOf, type ScalarSpec } from '../../config/schema.js';
import type { Event, Record_ } from '../../core/event-stream.js';
import { EventStream } from '../../core/event-stream.js';
import { defineFilter, type ValidationProblem } from '../../core/plugin.js';
import { recordAccessor, type RecordAccessor } from '../../core/record-accessor.js';
import { translateRegex } from '../../expr/regex.js';
import { toS } from '../../expr/values.js';

const REGEXP_MAX_NUM = 20;

const ruleParams = {
  key: p.string({ required: true, desc: 'Field to match: a name, or a record_accessor path like $.kubernetes.pod_name' }),
  pattern: p.string({ required: true, desc: 'Regular expression: /re/ with optional i or m flags, or a bare pattern' }),
};
const regexpSection = p.section({ desc: 'Keep events whose field matches', multi: true }, ruleParams);
const excludeSection = p.section({ desc: 'Drop events whose field matches', multi: true }, ruleParams);

type LegacyKey = `regexp${number}` | `exclude${number}`;
const legacy = {} as Record<LegacyKey, ScalarSpec<string | null>>;
for (let i = 1; i <= REGEXP_MAX_NUM; i++) {
  legacy[`regexp${i}`] = p.string({ default: null, deprecated: 'Use <regexp> section', desc: `Old form: "key pattern" (${i} of ${REGEXP_MAX_NUM}); all must match` });
}
for (let i = 1; i <= REGEXP_MAX_NUM; i++) {
  legacy[`exclude${i}`] = p.string({ default: null, deprecated: 'Use <exclude> section', desc: `Old form: "key pattern" (${i} of ${REGEXP_MAX_NUM}); any match drops` });
}

export const params = defineParams({
  ...legacy,
  regexp: regexpSection,
  exclude: excludeSection,
  and: p.section({ desc: 'All rules inside must hold: <regexp>s all match, or <exclude>s all match to drop', multi: true }, { regexp: regexpSection, exclude: excludeSection }),
  or: p.section({ desc: 'One rule inside is enough: a <regexp> matches, or an <exclude> matches to drop', multi: true }, { regexp: regexpSection, exclude: excludeSection }),
});
export type GrepConfig = ParamsOf<typeof params>;

interface Expression {
  access: RecordAccessor;
  pattern: RegExp;
}

/** The four condition lists of Fluentd's grep; null when empty. */
export interface GrepRules {
  regexpAnd: Expression[] | null;
  regexpOr: Expression[] | null;
  excludeAnd: Expression[] | null;
  excludeOr: Expression[] | null;
}

function match(e: Expression, record: Record_): boolean {
  return e.pattern.test(toS(e.access(record)));
}

/**
 * Fluentd's `regexp` parameter type: `/pattern/flags` (at most two characters after the last slash;
 * `i` and `m` are honoured) or a bare pattern compiled as it is.
 */
export function parseRegexpLiteral(text: string): RegExp {
  if (!text.startsWith('/')) return translateRegex(text, '');
  const right = text.lastIndexOf('/');
  if (right === 0 || right < text.length - 3) throw new Error(`invalid regexp: missing right slash: ${text}`);
  return translateRegex(text.slice(1, right), text.slice(right + 1).replace(/[^im]/g, ''));
}

/** Compiles every rule, collecting all problems (Fluentd's messages). */
export function buildRules(c: GrepConfig): { rules: GrepRules; problems: ValidationProblem[] } {
  const problems: ValidationProblem[] = [];
  const regexpAnd = new Map<string, Expression>();
  const regexpOr = new Map<string, Expression>();
  const excludeAnd = new Map<string, Expression>();
  const excludeOr = new Map<string, Expression>();
  const expr = (key: string, compile: () => RegExp, param?: string): Expression | null => {
    try {
      return { access: recordAccessor(key), pattern: compile() };
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      problems.push({ param, message: `${key}: ${e.message}` });
      return null;
    }
  };
  const add = (into: Map<string, Expression>, key: string, pattern: string, dupMessage: string, sectionPattern: boolean, param?: string) => {
    if (into.has(key)) { problems.push({ param, message: dupMessage }); return; }
    const e = expr(key, () => (sectionPattern ? parseRegexpLiteral(pattern) : translateRegex(pattern, '')), param);
    if (e) into.set(key, e);
  };
  const numbered = c as unknown as Record<LegacyKey, string | null>; // regexp1..20, exclude1..20 (declared above)
  for (const [kind, into] of [['regexp', regexpAnd], ['exclude', excludeOr]] as const) {
    for (let i = 1; i <= REGEXP_MAX_NUM; i++) {
      const name = `${kind}${i}` as const;
      const v = numbered[name];
      if (v === null) continue;
      const sp = v.indexOf(' ');
      if (sp < 0) { problems.push({ param: name, message: `${name} does not contain 2 parameters` }); continue; }
      const key = v.slice(0, sp);
      add(into, key, v.slice(sp + 1), `${name} contains a duplicated key, ${key}`, false, name);
    }
  }
  for (const r of c.regexp) add(regexpAnd, r.key, r.pattern, `Duplicate key: ${r.key}`, true);
  for (const r of c.exclude) add(excludeOr, r.key, r.pattern, `Duplicate key: ${r.key}`, true);
  for (const [name, group, regexpInto, excludeInto] of [['and', c.and, regexpAnd, excludeAnd], ['or', c.or, regexpOr, excludeOr]] as const) {
    for (const g of group) {
      if (g.regexp.length > 0 && g.exclude.length > 0) {
        problems.push({ message: `Do not specify both <regexp> and <exclude> in <${name}>` });
        continue;
      }
      for (const r of g.regexp) add(regexpInto, r.key, r.pattern, `Duplicate key in <${name}>: ${r.key}`, true);
      for (const r of g.exclude) add(excludeInto, r.key, r.pattern, `Duplicate key in <${name}>: ${r.key}`, true);
    }
  }
  const list = (m: Map<string, Expression>) => (m.size > 0 ? [...m.values()] : null);
  return { rules: { regexpAnd: list(regexpAnd), regexpOr: list(regexpOr), excludeAnd: list(excludeAnd), excludeOr: list(excludeOr) }, problems };
}

/** Fluentd's filter(): false drops the record. */
export function keep(rules: GrepRules, record: Record_): boolean {
  if (rules.regexpAnd && rules.regexpAnd.some((e) => !match(e, record))) return false;
  if (rules.regexpOr && !rules.regexpOr.some((e) => match(e, record))) return false;
  if (rules.excludeAnd && rules.excludeAnd.every((e) => match(e, record))) return false;
  if (rules.excludeOr && rules.excludeOr.some((e) => match(e, record))) return false;
  return true;
}

export class GrepFilter {
  constructor(private readonly rules: GrepRules) {}

  /** Returns the same stream (packed bytes untouched) when every event is kept. */
  filter(_tag: string, stream: EventStream): EventStream | null {
    const events = stream.events();
    let kept: Event[] | null = null;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (keep(this.rules, e.record)) kept?.push(e);
      else kept ??= events.slice(0, i);
    }
    if (kept === null) return stream;
    return kept.length === 0 ? null : EventStream.fromEvents(kept);
  }
}

export default defineFilter({
  type: 'grep',
  desc: 'Keep or drop events by regular expressions on record fields',
  params,
  validate: (c) => buildRules(c).problems,
  create(c, ctx) {
    if (c.regexp.length > 1) ctx.log.info('Top level multiple <regexp> is interpreted as \'and\' condition');
    if (c.exclude.length > 1) ctx.log.info('Top level multiple <exclude> is interpreted as \'or\' condition');
    return new GrepFilter(buildRules(c).rules);
  },
});
