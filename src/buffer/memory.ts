/** `<buffer> @type memory`: chunks held as lists of Buffers; nothing survives a restart. */
import type { Chunk, ChunkMetadata, ChunkProgress, ChunkState, ChunkStorage, ResumeResult } from './chunk.js';
import { newChunkId } from './chunk.js';
import { takeChunks } from './handover.js';

class MemoryChunk implements Chunk {
  readonly id = newChunkId();
  readonly hexId = this.id.toString('hex');
  readonly createdAt = Math.floor(Date.now() / 1000);
  modifiedAt = this.createdAt;
  state: ChunkState = 'staged';
  bytes = 0;
  records = 0;
  progress: ChunkProgress | null = null;
  private parts: Buffer[] = [];

  constructor(readonly metadata: ChunkMetadata) {}

  async append(data: Buffer, records: number): Promise<void> {
    this.parts.push(data);
    this.bytes += data.length;
    this.records += records;
    this.modifiedAt = Math.floor(Date.now() / 1000);
  }

  async read(): Promise<Buffer> {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  async enqueue(): Promise<void> {
    this.state = 'queued';
  }

  async saveProgress(): Promise<void> {}

  async purge(): Promise<void> {
    this.parts = [];
  }
}

/**
 * Memory storage. With a spill storage (a memory `<buffer>` that has a `path`), chunks that could
 * not be flushed at shutdown are written there, and the next start loads them back into memory.
 */
export class MemoryStorage implements ChunkStorage {
  readonly persistent = false;
  /** `handoverKey`: where a reload leaves the previous pipeline's chunks for this buffer (handover.ts). */
  constructor(private readonly spillTo: ChunkStorage | null = null, private readonly handoverKey?: string) {}

  async create(metadata: ChunkMetadata): Promise<Chunk> {
    return new MemoryChunk(metadata);
  }

  async resume(): Promise<ResumeResult> {
    const handed = this.handoverKey !== undefined ? takeChunks(this.handoverKey) : { staged: [], queued: [] };
    if (!this.spillTo) return handed;
    const { staged, queued } = await this.spillTo.resume();
    const loaded: Chunk[] = [];
    for (const c of [...queued, ...staged]) {
      const m = new MemoryChunk(c.metadata);
      await m.append(await c.read(), c.records);
      m.progress = c.progress;
      m.state = 'queued';
      loaded.push(m);
      await c.purge();
    }
    return { staged: handed.staged, queued: [...handed.queued, ...loaded] };
  }

  /** Writes chunks that are about to be lost into the spill storage; returns how many were kept. */
  async spill(chunks: Chunk[]): Promise<number> {
    if (!this.spillTo) return 0;
    let kept = 0;
    for (const c of chunks) {
      const f = await this.spillTo.create(c.metadata);
      await f.append(await c.read(), c.records);
      f.progress = c.progress;
      await f.enqueue();
      kept++;
    }
    await this.spillTo.close();
    return kept;
  }

  async close(): Promise<void> {}
}
