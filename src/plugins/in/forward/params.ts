/**
 * Parameters every forward-protocol server shares (in_forward over TCP, in_unix over a unix
 * socket), and turning them into the decoder's options. Spread into each plugin's schema.
 */
import { p } from '../../../config/schema.js';
import type { ValidationProblem } from '../../../core/plugin.js';
import { DEFAULT_DECOMPRESSION_LIMIT, type DecoderOptions } from '../../../protocol/framing.js';

export const protocolParams = {
  tag: p.string({ default: null, desc: 'Replace the tag of every incoming event with this' }),
  add_tag_prefix: p.string({ default: null, desc: 'Prefix the tag of every incoming event: <prefix>.<tag> (applied after tag)' }),
  skip_invalid_event: p.bool({ default: true, desc: 'Drop events whose time is not an integer/EventTime or whose record is not a map' }),
  chunk_size_warn_limit: p.size({ default: null, min: 0, desc: 'Warn when a request is larger than this' }),
  chunk_size_limit: p.size({ default: null, min: 0, desc: 'Drop (without ack) requests larger than this; the connection stays open' }),
  decompression_size_limit: p.size({ default: DEFAULT_DECOMPRESSION_LIMIT, min: 1, desc: 'Largest decompressed size of a CompressedPackedForward request; larger closes the connection' }),
  deny_keepalive: p.bool({ default: false, desc: 'Close each connection after its first request has been answered' }),
};

interface ProtocolConfig {
  readonly tag: string | null;
  readonly add_tag_prefix: string | null;
  readonly skip_invalid_event: boolean;
  readonly chunk_size_limit: number | null;
  readonly decompression_size_limit: number;
}

export function validateProtocol(c: ProtocolConfig): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  if (c.tag !== null && c.tag.trim() === '') out.push({ param: 'tag', message: 'tag must not be empty' });
  if (c.add_tag_prefix !== null && c.add_tag_prefix.trim() === '') out.push({ param: 'add_tag_prefix', message: 'add_tag_prefix must not be empty' });
  return out;
}

export function decoderOptions(c: ProtocolConfig): DecoderOptions {
  return {
    skipInvalidEvent: c.skip_invalid_event,
    chunkSizeLimit: c.chunk_size_limit,
    decompressionSizeLimit: c.decompression_size_limit,
    tag: c.tag,
    addTagPrefix: c.add_tag_prefix,
  };
}
