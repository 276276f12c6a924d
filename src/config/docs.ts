/** Renders parameter schemas as text for `--help-plugin` and the docs. */
import type { ParamSpec, Schema } from './schema.js';

function defaultText(spec: ParamSpec): string {
  if (spec.kind === 'section') return spec.multi ? 'multi' : spec.required ? 'required' : 'optional';
  if (spec.required) return 'required';
  if (spec.default === undefined || spec.default === null) return 'nil';
  return JSON.stringify(spec.default);
}

function typeText(spec: ParamSpec): string {
  if (spec.kind === 'enum') return `enum (${(spec.options ?? []).join('|')})`;
  if (spec.kind === 'array' && spec.valueType) return `array of ${spec.valueType}`;
  return spec.kind;
}

export function renderSchema(schema: Schema, indent = ''): string {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.kind === 'section') {
      lines.push(`${indent}<${name}${spec.argDesc ? ' ARG' : ''}>  section, ${defaultText(spec)}: ${spec.desc}${spec.argDesc ? ` (ARG: ${spec.argDesc})` : ''}`);
      lines.push(renderSchema(spec.params, indent + '  '));
      continue;
    }
    const extras: string[] = [];
    if (spec.min !== undefined) extras.push(`min ${spec.min}`);
    if (spec.max !== undefined) extras.push(`max ${spec.max}`);
    if (spec.alias?.length) extras.push(`alias ${spec.alias.join(', ')}`);
    if (spec.secret) extras.push('secret');
    lines.push(`${indent}${name}  ${typeText(spec)}, default ${defaultText(spec)}${extras.length ? ` (${extras.join('; ')})` : ''}: ${spec.desc}`);
  }
  return lines.filter((l) => l !== '').join('\n');
}
