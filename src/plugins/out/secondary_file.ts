/**
 * `@type secondary_file`: only inside `<secondary>`. Dumps a chunk the primary could not deliver
 * to `<directory>/<basename>.<i>` (first unused i) or, with `append`, to `<directory>/<basename>`;
 * `.gz` is added with compress gzip. The content is the chunk's payload: packed msgpack
 * `[time, record]` entries, as Fluentd writes it (decompressed for `compress text`, gzip for gzip).
 * `directory` and `basename` may hold the primary's chunk-key placeholders.
 */
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ChunkView } from '../../buffer/buffered-output.js';
import { defineParams, p, type ParamsOf } from '../../config/schema.js';
import { defineBufferedOutput, type ValidationProblem } from '../../core/plugin.js';
import { appendToFile, expandSafely, placeholderProblems, writeNewFile } from './file.js';

export const params = defineParams({
  directory: p.string({ required: true, desc: 'Directory of the dump files; ${tag}, ${key} and %Y%m%d… placeholders of the primary chunk keys allowed' }),
  basename: p.string({ default: 'dump.bin', desc: 'File name (no /); placeholders allowed' }),
  append: p.bool({ default: false, desc: 'Append every chunk to <basename>; false writes each chunk to a new <basename>.<i>' }),
  compress: p.enum(['text', 'gzip'] as const, { default: 'text', desc: 'gzip: write gzip and add .gz' }),
});
export type SecondaryFileConfig = ParamsOf<typeof params>;

function problemsOf(c: SecondaryFileConfig): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  if (c.directory.trim() === '') problems.push({ param: 'directory', message: 'must not be empty' });
  if (c.basename === '') problems.push({ param: 'basename', message: 'must not be empty' });
  if (c.basename.includes('/') || c.basename.includes('\\')) problems.push({ param: 'basename', message: 'must not contain / (put directories in directory)' });
  return problems;
}

export default defineBufferedOutput({
  type: 'secondary_file',
  desc: 'Dump chunks the primary output could not deliver to files (only inside <secondary>)',
  params,
  secondaryOnly: true,
  buffer: { chunkKeys: [] },
  validate: problemsOf,
  create(c, ctx) {
    // <secondary> sections are resolved without `validate` (src/buffer/setup.ts): check here too
    const first = problemsOf(c)[0];
    if (first) throw new Error(`${first.param}: ${first.message}`);
    const template = join(c.directory, c.basename);
    const problem = placeholderProblems('directory/basename', template, ctx.buffer.keys);
    if (problem) throw new Error(`${problem} (secondary_file placeholders must match the primary's <buffer> chunk keys)`);
    const gzip = c.compress === 'gzip';
    const suffix = gzip ? '.gz' : '';

    return {
      async write(chunk: ChunkView): Promise<void> {
        const base = expandSafely('directory/basename', template, chunk);
        let data: Buffer;
        if (gzip) data = chunk.compressed ? await chunk.readStored() : gzipSync(await chunk.readStored());
        else data = chunk.compressed ? await chunk.read() : await chunk.readStored();
        if (c.append) await appendToFile(base + suffix, data);
        else await writeNewFile((i) => `${base}.${i}${suffix}`, data);
      },
    };
  },
});
