/** `<buffer> @type memory`: chunks held as lists of Buffers; nothing survives a restart. */
import type { Chunk, ChunkMetadata, ChunkProgress, ChunkState, ChunkStorage, ResumeResult } from './chunk.js';
import { newChunkId } from './chunk.js';

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

export class MemoryStorage implements ChunkStorage {
  readonly persistent = false;
  async create(metadata: ChunkMetadata): Promise<Chunk> {
    return new MemoryChunk(metadata);
  }
  async resume(): Promise<ResumeResult> {
    return { staged: [], queued: [] };
  }
  async close(): Promise<void> {}
}
