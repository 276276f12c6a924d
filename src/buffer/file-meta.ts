/**
 * Names and `.meta` files of the file buffer, in Fluentd's layout so either daemon can resume the
 * other's chunks: data `buffer.<b|q><32 hex id><suffix>`, metadata `<data file>.meta` holding
 * `0xC1 0x00`, a uint32 BE length and a msgpack map `{timekey, tag, variables, seq, id, s, c, m}`
 * (plus `progress`, which Fluentd ignores). A meta that is a bare msgpack map (older Fluentd) is
 * accepted on read.
 */
import type { ChunkMetadata, ChunkProgress, ChunkState } from './chunk.js';
import { numberOf, WholeFloat } from '../core/float.js';
import { decode, encode } from '../protocol/msgpack.js';

export const META_SUFFIX = '.meta';
/** Suffix of the temporary file a meta is written to before it is renamed over the real one. */
export const META_TMP_SUFFIX = '.meta.tmp';
const MARKER0 = 0xc1;
const MARKER1 = 0x00;
const HEADER_BYTES = 6;

export interface ChunkMeta {
  metadata: ChunkMetadata;
  id: Buffer;
  /** Record count (`s`). */
  records: number;
  /** Epoch seconds (`c`, `m`). */
  createdAt: number;
  modifiedAt: number;
  progress: ChunkProgress | null;
}

export type FileKind = 'data' | 'meta' | 'tmp';

export interface ParsedName {
  state: ChunkState;
  hexId: string;
  kind: FileKind;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Builds the file-name codec for one path suffix (`path_suffix`, default `.log`). */
export function chunkNames(suffix: string): {
  data(state: ChunkState, hexId: string): string;
  parse(name: string): ParsedName | null;
} {
  const re = new RegExp(`^buffer\\.([bq])([0-9a-f]{32})${escapeRegExp(suffix)}(${escapeRegExp(META_SUFFIX)}|${escapeRegExp(META_TMP_SUFFIX)})?$`);
  return {
    data: (state, hexId) => `buffer.${state === 'staged' ? 'b' : 'q'}${hexId}${suffix}`,
    parse(name) {
      const m = re.exec(name);
      if (!m) return null;
      const kind: FileKind = m[3] === META_SUFFIX ? 'meta' : m[3] === META_TMP_SUFFIX ? 'tmp' : 'data';
      return { state: m[1] === 'b' ? 'staged' : 'queued', hexId: m[2]!, kind };
    },
  };
}

/** The chunk files of one id found in the directory, by state. */
export interface ChunkFiles {
  data: Partial<Record<ChunkState, string>>;
  meta: Partial<Record<ChunkState, string>>;
}

/** Sorts a directory listing into chunk files by id, and leftover temp metas; other names are ignored. */
export function groupChunkFiles(names: Iterable<string>, codec: ReturnType<typeof chunkNames>): { byId: Map<string, ChunkFiles>; temps: string[] } {
  const byId = new Map<string, ChunkFiles>();
  const temps: string[] = [];
  for (const name of names) {
    const p = codec.parse(name);
    if (!p) continue;
    if (p.kind === 'tmp') {
      temps.push(name);
      continue;
    }
    let f = byId.get(p.hexId);
    if (!f) byId.set(p.hexId, (f = { data: {}, meta: {} }));
    f[p.kind][p.state] = name;
  }
  return { byId, temps };
}

/** The bytes of a `.meta` file. Key order and types follow Fluentd's `FileChunk#write_metadata`. */
export function encodeMeta(m: ChunkMeta): Buffer {
  const body = encode({
    timekey: m.metadata.timekey,
    tag: m.metadata.tag,
    variables: m.metadata.variables,
    seq: m.metadata.seq,
    id: m.id,
    s: m.records,
    c: m.createdAt,
    m: m.modifiedAt,
    ...(m.progress ? { progress: m.progress } : {}),
  });
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  head[0] = MARKER0;
  head[1] = MARKER1;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof WholeFloat);
}

function intOrNull(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  const n = numberOf(v);
  return n !== null && Number.isFinite(n) ? Math.floor(n) : undefined;
}

/** Parses a `.meta` file; a string result is the reason it is unusable. */
export function decodeMeta(buf: Buffer): ChunkMeta | string {
  let raw: unknown;
  try {
    if (buf.length >= HEADER_BYTES && buf[0] === MARKER0 && buf[1] === MARKER1) {
      const len = buf.readUInt32BE(2);
      if (HEADER_BYTES + len > buf.length) return `meta is truncated (${buf.length - HEADER_BYTES} of ${len} bytes)`;
      raw = decode(buf.subarray(HEADER_BYTES, HEADER_BYTES + len));
    } else {
      raw = decode(buf); // legacy: a bare map
    }
  } catch (e) {
    return `meta is not valid msgpack (${e instanceof Error ? e.message : String(e)})`;
  }
  if (!isMap(raw)) return 'meta is not a map';
  const { id, tag, timekey, variables, seq, progress } = raw;
  // numbers another writer may have stored as floats (a whole one decodes to a WholeFloat)
  const c = numberOf(raw.c), m = numberOf(raw.m), s = numberOf(raw.s);
  if (!(id instanceof Uint8Array) || id.length !== 16) return 'meta has no 16-byte id';
  if (c === null || m === null) return 'meta has no created/modified time';
  const tk = intOrNull(timekey);
  const sq = intOrNull(seq);
  if (tk === undefined || sq === undefined) return 'meta has a non-integer timekey or seq';
  if (tag !== null && tag !== undefined && typeof tag !== 'string') return 'meta tag is not a string';
  if (variables !== null && variables !== undefined && !isMap(variables)) return 'meta variables is not a map';
  let vars: Record<string, string> | null = null;
  if (variables) {
    vars = {};
    // Fluentd stores record values as they were (numbers too); placeholders want strings.
    for (const [k, v] of Object.entries(variables)) vars[k] = typeof v === 'string' ? v : v instanceof WholeFloat ? v.toString() : JSON.stringify(v) ?? '';
  }
  return {
    metadata: { tag: tag ?? null, timekey: tk, variables: vars, seq: sq ?? 0 },
    id: Buffer.from(id.buffer, id.byteOffset, id.byteLength),
    records: s !== null && s >= 0 ? Math.floor(s) : 0,
    createdAt: Math.floor(c),
    modifiedAt: Math.floor(m),
    progress: isMap(progress) ? progress : null,
  };
}
