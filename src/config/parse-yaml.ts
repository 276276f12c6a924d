/**
 * fluent.yaml → the same ConfigElement tree the v1 parser builds (spec §11). Walks the `yaml`
 * package's node tree (not plain JS values) so every element and param keeps its line.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Document, Node as YamlNode, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { ConfigElement, ConfigParam } from './node.js';
import { newElement, setParam } from './node.js';
import { syntaxError } from './errors.js';
import type { EmbedContext, EmbedOptions } from './embedded.js';
import { expandString, makeEmbedContext } from './embedded.js';
import { expandIncludeGlob, realPathOf } from './parse-v1.js';

export interface YamlOptions extends EmbedOptions {
  warnings?: string[];
}

const ITEM_KINDS = new Set(['source', 'match', 'filter', 'label', 'worker']);
/** `$key` → v1 reserved param, in the order Fluentd emits them. */
const RESERVED: Array<[string, string]> = [['$type', '@type'], ['$label', '@label'], ['$id', '@id'], ['$log_level', '@log_level']];
const ARG_KEYS = new Set(['$arg', '$tag', '$name']);
const LOCAL_TAGS = new Set(['!fluent/json', '!fluent/s', '!include']);

/** A `!local` tag on a node (standard `!!str` … tags resolve to `tag:yaml.org,2002:…` and are not). */
function localTag(node: YamlNode | null): string | undefined {
  const tag = node && 'tag' in node ? node.tag : undefined;
  return tag?.startsWith('!') ? tag : undefined;
}

interface State {
  ctx: EmbedContext;
  warnings: string[];
  chain: string[];
}

/** One parsed YAML file: resolves aliases and turns offsets into lines. */
class YamlFile {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(text: string, readonly file: string) {
    this.doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: this.lines, prettyErrors: false });
    const err = this.doc.errors[0];
    if (err) throw syntaxError(file, this.lines.linePos(err.pos[0]).line, `invalid YAML: ${err.message.split('\n')[0]}`);
  }

  line(node: YamlNode | Pair | null | undefined): number {
    const target = node && 'key' in node ? (node.key as YamlNode) : node;
    const offset = target && 'range' in target && target.range ? target.range[0] : 0;
    return this.lines.linePos(offset).line;
  }

  fail(node: YamlNode | Pair | null | undefined, message: string): never {
    throw syntaxError(this.file, this.line(node), message);
  }

  /** Follows `*alias` references. */
  deref(node: unknown): YamlNode | null {
    if (isAlias(node)) return (node.resolve(this.doc) as YamlNode | undefined) ?? null;
    return (node as YamlNode | null) ?? null;
  }
}

/** Parses YAML config text into a `ROOT` element. */
export function parseYaml(text: string, file: string, opts: YamlOptions = {}): ConfigElement {
  const state: State = { ctx: makeEmbedContext(opts), warnings: opts.warnings ?? [], chain: [realPathOf(path.resolve(file))] };
  const y: YamlFile = new YamlFile(text, file);
  const root = newElement('ROOT', '', file, 1);
  const top = y.deref(y.doc.contents);
  if (top === null || (isScalar(top) && top.value === null)) return root;
  if (!isMap(top)) y.fail(top, 'a YAML config must be a map with `system:` and/or `config:` keys');
  const pairs = mapPairs(y, top);
  const system = pairs.find(([k]) => k === 'system');
  if (system) root.elements.push(buildSection(y, state, 'system', system[1], system[2]));
  const config = pairs.find(([k]) => k === 'config');
  if (config) configList(y, state, root, config[2], config[1]);
  for (const [key, pair] of pairs) {
    if (key !== 'system' && key !== 'config') state.warnings.push(`${file}:${y.line(pair)}: unknown top-level key '${key}' ignored`);
  }
  return root;
}

/** Key, pair and dereferenced value of every entry, with `<<` merge keys applied (explicit keys win). */
function mapPairs(y: YamlFile, map: YAMLMap): Array<[string, Pair, YamlNode | null]> {
  const out: Array<[string, Pair, YamlNode | null]> = [];
  const merged: Array<[string, Pair, YamlNode | null]> = [];
  for (const pair of map.items) {
    const key = y.deref(pair.key);
    const name = isScalar(key) ? String(key.value) : '';
    if (!isScalar(key)) y.fail(pair, 'map keys must be plain strings');
    if (name === '<<') {
      merged.push(...mergeSources(y, pair).flatMap((m) => mapPairs(y, m)));
      continue;
    }
    out.push([name, pair, y.deref(pair.value)]);
  }
  for (const m of merged) if (!out.some(([k]) => k === m[0])) out.push(m);
  return out;
}

function mergeSources(y: YamlFile, pair: Pair): YAMLMap[] {
  const value = y.deref(pair.value);
  if (localTag(value) === '!include') {
    y.fail(pair, '`<<: !include` is not supported; use `!include` as an item of a `config:` list');
  }
  const items = isSeq(value) ? value.items.map((i) => y.deref(i)) : [value];
  return items.map((m) => (isMap(m) ? m : y.fail(pair, '`<<` needs a map or an alias of a map')));
}

/** Processes a `config:` list: each item one directive or an `!include`. */
function configList(y: YamlFile, state: State, parent: ConfigElement, node: YamlNode | null, at: YamlNode | Pair): void {
  if (node === null || (isScalar(node) && node.value === null)) return;
  if (!isSeq(node)) y.fail(at, '`config:` must be a list of items (source, match, filter, label, worker, !include)');
  for (const raw of node.items) {
    const item = y.deref(raw);
    if (isScalar(item) && item.tag === '!include') {
      includeItems(y, state, parent, item);
      continue;
    }
    if (!isMap(item)) y.fail(item, 'a config item must be a map such as `- source: {...}` or `- !include path`');
    for (const [kind, pair, value] of mapPairs(y, item)) {
      if (!ITEM_KINDS.has(kind)) y.fail(pair, `unknown config item '${kind}' (expected source, match, filter, label, worker or !include)`);
      parent.elements.push(buildSection(y, state, kind, pair, value));
    }
  }
}

function includeItems(y: YamlFile, state: State, parent: ConfigElement, item: Scalar): void {
  const spec = String(item.value ?? '');
  if (/^https?:\/\//i.test(spec)) y.fail(item, `remote includes are not supported (${spec}): download the file and !include it by path`);
  const pattern = path.resolve(path.dirname(path.resolve(y.file)), spec);
  for (const file of expandIncludeGlob(pattern)) {
    const real = realPathOf(file);
    if (state.chain.includes(real)) {
      y.fail(item, `include cycle: ${[...state.chain.slice(state.chain.indexOf(real)), real].join(' -> ')}`);
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      y.fail(item, `cannot read included file ${file}: ${(err as Error).message}`);
    }
    const inc = new YamlFile(text, file);
    state.chain.push(real);
    try {
      const top = inc.deref(inc.doc.contents);
      if (top !== null && !(isScalar(top) && top.value === null) && !isSeq(top)) {
        inc.fail(top, 'an !include-d YAML file must be a list of config items');
      }
      if (isSeq(top)) configList(inc, state, parent, top, top);
    } finally {
      state.chain.pop();
    }
  }
}

/** `$arg`/`$tag` value: scalar text, or a list joined with `,`. */
function argText(y: YamlFile, node: YamlNode | null, pair: Pair): string {
  if (isSeq(node)) return node.items.map((i) => scalarText(y, y.deref(i), pair)).join(',');
  return scalarText(y, node, pair);
}

/** A section from a map: reserved keys first, then params and nested sections in order. */
function buildSection(y: YamlFile, state: State, name: string, at: YamlNode | Pair, node: YamlNode | null): ConfigElement {
  const el = newElement(name, '', y.file, y.line(at));
  if (node === null || (isScalar(node) && node.value === null)) return el;
  if (!isMap(node)) y.fail(at, `'${name}' must be a map of parameters and sections`);
  const pairs = mapPairs(y, node);
  for (const [dollar, at2] of RESERVED) {
    const hit = pairs.find(([k]) => k === dollar);
    if (hit) setParam(el, at2, param(y, state, hit[1], hit[2]));
  }
  for (const [key, pair, value] of pairs) {
    if (RESERVED.some(([d]) => d === key)) continue;
    if (ARG_KEYS.has(key)) {
      el.arg = argText(y, value, pair);
      continue;
    }
    if (key === 'config' && (name === 'label' || name === 'worker')) {
      configList(y, state, el, value, pair);
      continue;
    }
    if (key.startsWith('$')) {
      y.fail(pair, `unsupported key '${key}' (supported: $type, $id, $label, $log_level, $tag, $name, $arg)`);
    }
    addEntry(y, state, el, key, pair, value);
  }
  return el;
}

/** map ⇒ nested section; list of maps ⇒ repeated sections; anything else ⇒ param. */
function addEntry(y: YamlFile, state: State, el: ConfigElement, key: string, pair: Pair, value: YamlNode | null): void {
  const tagged = localTag(value) !== undefined;
  if (isMap(value) && !tagged) {
    el.elements.push(buildSection(y, state, key, pair, value));
    return;
  }
  if (isSeq(value) && !tagged && isMap(y.deref(value.items[0]))) {
    for (const item of value.items) {
      const m = y.deref(item);
      if (!isMap(m)) y.fail(pair, `'${key}': a list of sections must contain only maps`);
      el.elements.push(buildSection(y, state, key, item as YamlNode, m));
    }
    return;
  }
  setParam(el, key, param(y, state, pair, value));
}

function param(y: YamlFile, state: State, pair: Pair, value: YamlNode | null): ConfigParam {
  const base = { file: y.file, line: y.line(pair) };
  const tag = localTag(value);
  if (tag !== undefined && !LOCAL_TAGS.has(tag)) y.fail(pair, `unknown YAML tag ${tag} (supported: ${[...LOCAL_TAGS].join(', ')})`);
  if (tag === '!fluent/json') return { ...base, value: JSON.stringify(value!.toJSON()) };
  if (tag === '!fluent/s') {
    const raw = scalarText(y, value, pair);
    const r = expandString(raw, state.ctx, base, { escapes: true, nilAsEmpty: true });
    return r.special ? { ...base, value: '', special: r.special } : { ...base, value: r.value };
  }
  if (tag === '!include') y.fail(pair, '!include is only supported as an item of a `config:` list');
  if (isSeq(value)) return { ...base, value: JSON.stringify(value.toJSON()) };
  if (isMap(value)) return { ...base, value: JSON.stringify(value.toJSON()) };
  return { ...base, value: scalarText(y, value, pair) };
}

/** Scalars as text the way Fluentd's Ruby would print them: `true`, `5`, `0.5`, `5.0`; null ⇒ ''. */
function scalarText(y: YamlFile, node: YamlNode | null, at: Pair): string {
  if (node === null) return '';
  if (!isScalar(node)) y.fail(at, 'expected a single value here, not a map or list');
  const v = node.value;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    const floatSource = typeof node.source === 'string' && /[.eE]/.test(node.source);
    return floatSource && Number.isInteger(v) && Math.abs(v) < 1e16 ? `${v}.0` : String(v);
  }
  if (typeof v === 'string' && node.type === 'PLAIN' && !node.tag) {
    // Psych (Fluentd's YAML loader) reads YAML 1.1 booleans; the yaml package keeps them as text.
    if (/^(yes|on)$/i.test(v)) return 'true';
    if (/^(no|off)$/i.test(v)) return 'false';
  }
  return String(v);
}
