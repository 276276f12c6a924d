/**
 * zstd entries (`compressed: "zstd"`): data made by the real `zstd` command (Debian package zstd),
 * one frame per write as Fluentd appends them; the output limit holds while decompressing, and a
 * frame announcing more than the limit is refused up front. On Node 20 this runs fzstd; on a Node
 * with zlib zstd, Node's own.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeAll, encode } from '../../../src/protocol/msgpack.js';
import { frameHeader, MAX_WINDOW, zstdDecompress } from '../../../src/protocol/zstd.js';
import { zstdCli } from '../../helpers/packed.js';

describe('zstd entries', () => {
  it('decodes concatenated frames, one per write', () => {
    const frames = [1, 2, 3].map((n) => zstdCli(encode([1_750_000_000, { n, msg: 'x'.repeat(n * 100) }])));
    const out = zstdDecompress(Buffer.concat(frames), 1 << 20);
    expect(decodeAll(out)).toEqual([1, 2, 3].map((n) => [1_750_000_000, { n, msg: 'x'.repeat(n * 100) }]));
  });

  it('stops at the limit, refuses a frame stating more or needing a huge window, and rejects garbage', () => {
    // a file of known size: the frame states its content size, refused before decoding
    const sized = spawnSync('sh', ['-c', 'head -c 4194304 /dev/zero > "$0" && zstd -q -c "$0"; rm -f "$0"', `/tmp/logferry-zstd-${process.pid}`]).stdout;
    expect(sized.length).toBeLessThan(2000); // a few hundred bytes that grow to 4 MiB
    expect(frameHeader(sized)).toMatchObject({ contentSize: 4 * 1024 * 1024 });
    expect(() => zstdDecompress(sized, 1024 * 1024)).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_LARGE' }));
    // from a pipe the size is unknown: only the window is stated, and the output limit stops it
    const streamed = zstdCli(Buffer.alloc(4 * 1024 * 1024));
    expect(frameHeader(streamed)).toMatchObject({ contentSize: null });
    expect(() => zstdDecompress(streamed, 1024 * 1024)).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_LARGE' }));
    expect(zstdDecompress(streamed, 8 * 1024 * 1024).length).toBe(4 * 1024 * 1024);
    // a window of 2 GiB (--long=31) is more than a decoder should allocate for a peer
    const long = zstdCli(Buffer.alloc(1024), ['--long=31']);
    expect(frameHeader(long)!.window).toBeGreaterThan(MAX_WINDOW);
    expect(() => zstdDecompress(long, 1 << 30)).toThrow(/window/);
    expect(() => zstdDecompress(Buffer.from('not zstd at all'), 1024)).toThrow();
    expect(frameHeader(Buffer.from('not zstd at all'))).toBeNull();
  });
});
