/**
 * `@type file`: Fluentd's out_file. Each flushed chunk is formatted (default `time<TAB>tag<TAB>json`)
 * and written with one write to a file named after `path` and the chunk:
 *
 *   path + [`.` + timekey strftime, when `path` has no time placeholder] + [`_N`, first unused N,
 *   unless `append`] + [path_suffix, when add_path_suffix] + [`.gz`, when compress gzip]
 *
 * A `*` in `path` is replaced by the timekey strftime (and `_N`) instead, as Fluentd does.
 *
 * Differences from Fluentd, both forced by the shared buffer:
 * - Fluentd defaults out_file's `<buffer>` to `@type file` next to `path`. Buffer re-defaults are
 *   static here (no per-instance path), so the buffer stays `memory` unless `<buffer> @type file`
 *   (with a `path`, or `<system> root_dir` and `@id`) is configured.
 * - Chunks hold `[time, record]` entries only (Fluentd formats at emit time and stores lines), so
 *   when the format prints the tag (out_file with output_tag, stdout) `tag` is added to the chunk
 *   keys: chunks are split by tag as well, and without `append` one file is written per tag and
 *   timekey where Fluentd writes one per timekey. The default chunk key is `time`, as in Fluentd.
 */
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ChunkKeys } from '../../buffer/chunk-keys.js';
import type { ChunkView } from '../../buffer/buffered-output.js';
import { checkPlaceholders } from '../../buffer/placeholders.js';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { UnrecoverableError } from '../../core/errors.js';
import { defineBufferedOutput, type ValidationProblem } from '../../core/plugin.js';
import { createFormatter, formatParams, type FormatConfig } from '../../format/formatter.js';

export const params = defineParams({
  path: p.string({ required: true, desc: 'Output path prefix; ${tag}, ${key} and %Y%m%d… placeholders allowed (matching the <buffer> chunk keys)' }),
  append: p.bool({ default: false, desc: 'Append each chunk to one file per path; false writes each chunk to a new file <path>_N' }),
  add_path_suffix: p.bool({ default: true, desc: 'Add path_suffix to file names' }),
  path_suffix: p.string({ default: '.log', desc: 'Suffix of file names' }),
  compress: p.enum(['text', 'gzip'] as const, { default: 'text', desc: 'gzip: write gzip members and add .gz' }),
  format: p.section({ desc: 'How each event is written (default @type out_file: time<TAB>tag<TAB>json)' }, formatParams),
});
export type FileConfig = ParamsOf<typeof params>;

export const DIR_MODE = 0o755;
export const FILE_MODE = 0o644;
/** Where `_N` goes in a path template (cannot occur in a configured path). */
const INDEX_MARK = '\0';
const PLACEHOLDER = /\$\{([^}]+)\}/g;
/** A value that would move a path out of its directory: `..` as a path part, or a leading slash. */
const UNSAFE_VALUE = /(^|[/\\])\.\.([/\\]|$)|^[/\\]/;

/** Fluentd's time part of a file name for a timekey (seconds). */
export function timekeyFormat(timekey: number): string {
  if (timekey < 60) return '%Y%m%d%H%M%S';
  if (timekey < 3600) return '%Y%m%d%H%M';
  if (timekey < 86400) return '%Y%m%d%H';
  return '%Y%m%d';
}

/**
 * The file name template: placeholders still unexpanded, INDEX_MARK where `_N` goes (non-append).
 * Throws (a config problem) when the time placeholders cannot name the timekey's ranges.
 */
export function pathTemplate(c: FileConfig, keys: ChunkKeys): string {
  const index = c.append ? '' : INDEX_MARK;
  const suffix = c.add_path_suffix ? c.path_suffix : '';
  const gz = c.compress === 'gzip' ? '.gz' : '';
  const timeFmt = keys.time && keys.timekey !== null ? timekeyFormat(keys.timekey) : null;
  if (c.path.includes('*')) {
    if (!timeFmt) throw new Error("path: '*' is replaced by the time range; add time to the <buffer> chunk keys (with a timekey)");
    return c.path.replaceAll('*', timeFmt + index) + gz;
  }
  if (!timeFmt) return c.path + index + suffix + gz;
  const parts = timeFmt.match(/../g)!;
  const present = parts.filter((ph) => c.path.includes(ph));
  if (present.length === 0) return `${c.path}.${timeFmt}${index}${suffix}${gz}`;
  if (present.length < parts.length) {
    throw new Error(`path: insufficient timestamp placeholders for timekey ${keys.timekey}: use all of ${parts.join(' ')} (or none, to get .${timeFmt} appended)`);
  }
  return c.path + index + suffix + gz;
}

/** Configure-time problems of a path-like template against the chunk keys, as one message. */
export function placeholderProblems(param: string, template: string, keys: ChunkKeys): string | null {
  const problems = checkPlaceholders(template, keys);
  return problems.length ? `${param}: ${problems.join('; ')}` : null;
}

/** Expands a template for a chunk; a `${tag}`/`${key}` value that would escape the directory is unrecoverable. */
export function expandSafely(param: string, template: string, chunk: ChunkView): string {
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m[1] === 'chunk_id') continue;
    const value = chunk.expand(m[0]);
    if (UNSAFE_VALUE.test(value)) {
      throw new UnrecoverableError(`${param}: placeholder ${m[0]} expands to ${JSON.stringify(value)}, which would leave the configured directory (path traversal); chunk ${chunk.hexId} is not written there`);
    }
  }
  return chunk.expand(template);
}

/** Appends `data` to `path` in one write, creating directories (0755) and the file (0644) as needed. */
export async function appendToFile(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
  const fh = await open(path, 'a', FILE_MODE);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}

/** Writes `data` to the first of `pathFor(0)`, `pathFor(1)`, … that does not exist yet; returns it. */
export async function writeNewFile(pathFor: (i: number) => string, data: Buffer): Promise<string> {
  let madeDir: string | null = null;
  for (let i = 0; ; i++) {
    const path = pathFor(i);
    const dir = dirname(path);
    if (dir !== madeDir) {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      madeDir = dir;
    }
    let fh;
    try {
      fh = await open(path, 'wx', FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    try {
      await fh.writeFile(data);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined); // the retry starts over; leave no partial file behind
      throw e;
    }
    await fh.close();
    return path;
  }
}

/** The `<format>` to use: out_file unless the section names another @type. */
function formatConfig(c: FileConfig): FormatConfig | null {
  const f = c.format;
  if (!f) return null;
  const explicit = f.element.params.has('@type') || f.element.params.has('type');
  return { ...f, '@type': explicit ? f['@type'] : 'out_file' };
}

function printsTag(f: FormatConfig | null): boolean {
  const type = f?.['@type'] ?? 'out_file';
  return type === 'stdout' || (type === 'out_file' && (f?.output_tag ?? true));
}

export default defineBufferedOutput({
  type: 'file',
  desc: 'Write events to files, one write per buffer chunk',
  params,
  buffer: { chunkKeys: ['time'], defaults: { timekey: 86400 }, impliedTag: (c) => printsTag(formatConfig(c)) },
  validate(c): ValidationProblem[] {
    const problems: ValidationProblem[] = [];
    if (c.path.trim() === '') problems.push({ param: 'path', message: 'must not be empty' });
    if (c.path.endsWith('/')) problems.push({ param: 'path', message: 'is a file name prefix, not a directory: remove the trailing /' });
    return problems;
  },
  create(c, ctx) {
    const keys = ctx.buffer.keys;
    const problem = placeholderProblems('path', c.path, keys);
    if (problem) throw new Error(problem);
    const template = pathTemplate(c, keys);
    const fc = formatConfig(c);
    const format = createFormatter(fc, { type: 'out_file' });
    const gzip = c.compress === 'gzip';

    return {
      async write(chunk: ChunkView): Promise<void> {
        const path = expandSafely('path', template, chunk);
        const tag = chunk.metadata.tag ?? '';
        let text = '';
        for (const e of (await chunk.stream()).events()) text += format(tag, e.time, e.record);
        const raw = Buffer.from(text, 'utf8');
        const data = gzip ? gzipSync(raw) : raw;
        if (c.append) await appendToFile(path, data);
        else await writeNewFile((i) => path.replaceAll(INDEX_MARK, `_${i}`), data);
      },
    };
  },
});
