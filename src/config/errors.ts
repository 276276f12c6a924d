import type { ConfigElement } from './node.js';
import { describeElement } from './node.js';

/** Stable codes for config problems; messages say what failed, where and what to change. */
export type ConfigErrorCode =
  | 'LF_CONFIG_SYNTAX'      // the text cannot be parsed
  | 'LF_CONFIG_PARAM'       // a parameter has a wrong value or is missing
  | 'LF_CONFIG_STRUCTURE'   // a directive is misplaced, duplicated or missing
  | 'LF_CONFIG_PLUGIN'      // unknown @type
  | 'LF_CONFIG_EMBEDDED';   // a "#{...}" expression outside the supported set

export interface ConfigProblem {
  code: ConfigErrorCode;
  file: string;
  line: number;
  /** e.g. `<match app.**>` */
  directive?: string;
  type?: string;
  param?: string;
  message: string;
}

/** Renders a problem as `file:line <directive> @type: param: message`. */
export function formatProblem(p: ConfigProblem): string {
  let s = `${p.file}:${p.line}`;
  if (p.directive) s += ` ${p.directive}`;
  if (p.type) s += ` @type ${p.type}`;
  s += ':';
  if (p.param) s += ` ${p.param}:`;
  return `${s} ${p.message}`;
}

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.code = problems[0]?.code ?? 'LF_CONFIG_PARAM';
    this.problems = problems;
  }
  get file(): string { return this.problems[0]?.file ?? ''; }
  get line(): number { return this.problems[0]?.line ?? 0; }
}

/** A syntax error at one position: thrown by the parsers. */
export function syntaxError(file: string, line: number, message: string, code: ConfigErrorCode = 'LF_CONFIG_SYNTAX'): ConfigError {
  return new ConfigError([{ code, file, line, message }]);
}

/** A problem located at an element (and optionally one of its parameters). */
export function problemAt(el: ConfigElement, message: string, opts: { param?: string; code?: ConfigErrorCode; type?: string } = {}): ConfigProblem {
  const p = opts.param !== undefined ? el.params.get(opts.param) : undefined;
  return {
    code: opts.code ?? 'LF_CONFIG_PARAM',
    file: p?.file ?? el.file,
    line: p?.line ?? el.line,
    directive: describeElement(el),
    type: opts.type,
    param: opts.param,
    message,
  };
}
