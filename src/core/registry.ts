/** @type → plugin definition, one map per kind. Filled by src/plugins/index.ts. */
import { nearest } from '../config/schema.js';
import type { AnyDefinition, PluginKind } from './plugin.js';

const registries: Record<PluginKind, Map<string, AnyDefinition>> = {
  input: new Map(),
  filter: new Map(),
  output: new Map(),
};

export function register(def: AnyDefinition): void {
  const reg = registries[def.kind];
  if (reg.has(def.type)) throw new Error(`duplicate ${def.kind} plugin type ${def.type}`);
  reg.set(def.type, def);
}

export function lookup(kind: PluginKind, type: string): AnyDefinition | undefined {
  return registries[kind].get(type);
}

export function listPlugins(kind: PluginKind): AnyDefinition[] {
  return [...registries[kind].values()].sort((a, b) => a.type.localeCompare(b.type));
}

/** "unknown output plugin 'stdot'; did you mean 'stdout'? (known: ...)" */
export function unknownPluginMessage(kind: PluginKind, type: string): string {
  const known = [...registries[kind].keys()].sort();
  const hint = nearest(type, known);
  return `unknown ${kind} plugin '${type}'${hint ? `; did you mean '${hint}'?` : ''} (known: ${known.join(', ')})`;
}
