/**
 * The parsed config tree. Every parser (v1 text, YAML) produces this shape; schemas read it.
 * Every element and parameter keeps the file and line it came from so errors can point at it.
 */

/** Marks a value produced by the embedded `"#{use_default}"` / `"#{use_nil}"` expressions. */
export type SpecialValue = 'default' | 'nil';

export interface ConfigParam {
  /** The value as text: v1 values are always text; YAML scalars are turned into text. */
  value: string;
  /** Set when the whole value was `use_default` or `use_nil`. */
  special?: SpecialValue;
  file: string;
  line: number;
}

export interface ConfigElement {
  /** Directive or section name: `ROOT`, `source`, `match`, `filter`, `label`, `system`, `worker`, `buffer`, … */
  name: string;
  /** The argument between the name and `>` (`<match a.** b.*>` ⇒ `a.** b.*`), trimmed; '' when absent. */
  arg: string;
  /** Parameters in the order first seen; a repeated key replaces the earlier value. */
  params: Map<string, ConfigParam>;
  elements: ConfigElement[];
  file: string;
  line: number;
}

export function newElement(name: string, arg: string, file: string, line: number): ConfigElement {
  return { name, arg, params: new Map(), elements: [], file, line };
}

/** Sets a parameter, keeping the position of the first occurrence in iteration order. */
export function setParam(el: ConfigElement, key: string, param: ConfigParam): void {
  el.params.set(key, param);
}

/** `<match a.**>` rendered back for messages. */
export function describeElement(el: ConfigElement): string {
  return el.arg ? `<${el.name} ${el.arg}>` : `<${el.name}>`;
}
