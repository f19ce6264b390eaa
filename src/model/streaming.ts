/**
 * Streaming weights for models larger than the memory budget. The weights stay memory-mapped; what changes
 * is which pages are resident: while layer i computes, layer i+1 is requested (madvise WILLNEED, so the kernel
 * reads it ahead), and when layer i is done its pages are released (MADV_PAGEOUT: out of this process's RSS
 * and out of the page cache, so a memory cgroup sees them go too). The output matrix — for big vocabularies
 * the largest tensor — is multiplied in row chunks, each released after use; the token embedding is released
 * after the lookup. Whatever the budget holds beyond that window is not streamed at all: the first layers
 * (then the output matrix) that fit stay resident, so a budget just below the model's size reads little per
 * token and a tight one reads nearly everything — graceful degradation rather than a cliff.
 *
 * Residency is measured, not assumed: after each layer the mapping's resident bytes are counted with mincore,
 * and the bytes the process read from storage come from /proc/self/io.
 */
import { readFileSync } from "node:fs";
import type { GgufFile } from "../gguf/reader.ts";
import { adviseMemory, dropFileCache, madvice, residentBytes } from "../native/index.ts";
import type { Weight } from "./weights.ts";

/** Output-matrix rows are streamed in chunks of about this many bytes. */
export const outputChunkBytes = 8 << 20;

interface Range {
  address: number;
  size: number;
}

/** The byte range each transformer layer's tensors span in the mapping (blk.N.* are stored together). */
export function layerRanges(file: GgufFile, layerCount: number): Range[] {
  const ranges: Range[] = [];
  for (let il = 0; il < layerCount; il++) {
    const prefix = `blk.${il}.`;
    let start = Infinity;
    let end = 0;
    for (const t of file.tensors) {
      if (!t.name.startsWith(prefix)) continue;
      start = Math.min(start, t.offset);
      end = Math.max(end, t.offset + t.byteSize);
    }
    ranges.push(start === Infinity ? { address: file.address, size: 0 } : { address: file.address + start, size: end - start });
  }
  return ranges;
}

/**
 * Bytes resident at once while streaming: two layers (the one computing, the one read ahead), each rounded out
 * to the 2 MiB blocks pages are released in, an output chunk and the block its cursor trails, and a margin
 * of kernel readahead past the ranges asked for.
 */
export function streamingWindowBytes(file: GgufFile, layerCount: number): number {
  const largest = Math.max(0, ...layerRanges(file, layerCount).map((r) => r.size));
  const block = 2 << 20;
  return 2 * (largest + 2 * block) + outputChunkBytes + 6 * block;
}

export function bytesReadFromStorage(): number {
  try {
    const m = /read_bytes:\s+(\d+)/.exec(readFileSync("/proc/self/io", "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * The page cache holds file pages in folios of up to 2 MiB, and MADV_PAGEOUT skips a folio that reaches past
 * the range it is given. So weights are released in whole 2 MiB blocks (the mapping starts 2 MiB-aligned),
 * rounded outwards — except a boundary block shared with a layer about to run, which that layer releases.
 * (Layers are not in file order: writers sort names, so blk.10 sits between blk.1 and blk.2.) The output
 * matrix, one tensor read front to back, is released by a cursor that trails its chunks.
 */
const block = 2 << 20;
const floorBlock = (address: number) => Math.floor(address / block) * block;
const ceilBlock = (address: number) => Math.ceil(address / block) * block;
const overlaps = (start: number, end: number, r: Range) => r.size > 0 && start < r.address + r.size && r.address < end;

/** Releases [address, address + size) of the mapping: mapped pages out (PAGEOUT), cached ones dropped. */
function release(file: GgufFile, address: number, size: number): void {
  if (size <= 0) return;
  adviseMemory(address, size, madvice.pageOut);
  dropFileCache(file.path, address - file.address, size);
}

class ReleaseCursor {
  private next = -1;
  constructor(private readonly file: GgufFile) {}
  releaseUpTo(start: number, end: number, last: boolean): void {
    if (this.next < 0) this.next = floorBlock(start);
    const until = last ? ceilBlock(end) : floorBlock(end);
    if (until > this.next) {
      release(this.file, this.next, until - this.next);
      this.next = until;
    }
  }
  reset(): void {
    this.next = -1;
  }
}

export class WeightStreamer {
  private readonly layers: Range[];
  private readonly outputCursor: ReleaseCursor;
  /** Layers that stay resident (never released), and whether the output matrix does. */
  readonly pinnedLayers: boolean[];
  readonly pinnedOutput: boolean;
  /** Most bytes of the mapping found resident at a layer boundary or an output chunk. */
  maxResidentBytes = 0;

  /** `pinnableBytes`: what the budget leaves for weights beyond the streaming window. */
  constructor(
    private readonly file: GgufFile,
    layerCount: number,
    private readonly tokenEmbedding: Weight,
    output: Weight,
    pinnableBytes: number,
  ) {
    this.layers = layerRanges(file, layerCount);
    this.outputCursor = new ReleaseCursor(file);
    let left = pinnableBytes;
    this.pinnedLayers = this.layers.map((r) => {
      // Whole blocks, as releases and residency are counted.
      const cost = ceilBlock(r.address + r.size) - floorBlock(r.address);
      if (cost > left) return false;
      left -= cost;
      return true;
    });
    this.pinnedOutput = this.pinnedLayers.every(Boolean) && output.byteSize + 2 * block <= left;
    this.outputAddress = output.address;
  }

  get streamedLayers(): number {
    return this.pinnedLayers.filter((p) => !p).length;
  }

  /**
   * Streaming starts from an empty page cache for the file (pages another process left cached would count),
   * and without the header: the metadata and vocabulary were parsed at load and are not read again. All the
   * load touched (the header, the norms it copied out) is unmapped first: the cache keeps a folio any page of
   * which is mapped, and a file cached in 2 MiB folios would keep 2 MiB of every layer (measured: 70 MB of
   * Gemma-3-270M's weights resident under a 64 MiB budget, against 28 from a cold file).
   */
  dropCached(): void {
    adviseMemory(this.file.address, this.file.fileSize, madvice.dontNeed);
    dropFileCache(this.file.path);
  }

  /** After the embedding lookup: release the rows it touched (the whole tensor, in whole blocks). */
  afterEmbedding(): void {
    const e = this.tokenEmbedding;
    if (this.pinnedOutput && e.address === this.outputAddress) return;
    release(this.file, floorBlock(e.address), ceilBlock(e.address + e.byteSize) - floorBlock(e.address));
  }

  /** Before the first layer: read it and the next ahead. */
  start(): void {
    this.outputCursor.reset();
    this.prefetch(0);
    this.prefetch(1);
  }

  /** Layer il is done: measure, release it, and ask for the one after the next. */
  afterLayer(il: number): void {
    this.measure();
    const r = this.layers[il];
    if (r.size > 0 && !this.pinnedLayers[il]) {
      let start = floorBlock(r.address);
      let end = ceilBlock(r.address + r.size);
      // Blocks shared with a layer about to run, or with a pinned one, stay.
      for (const [j, next] of this.layers.entries()) {
        if (j === il || !(j === il + 1 || j === il + 2 || this.pinnedLayers[j])) continue;
        if (overlaps(start, start + block, next)) start += block;
        if (end > start && overlaps(end - block, end, next)) end -= block;
      }
      release(this.file, start, end - start);
    }
    this.prefetch(il + 2);
    this.dropStrays([il + 1, il + 2]);
  }

  /**
   * The kernel's own readahead around page faults fills the cache past the ranges asked for, often into
   * layers that run much later (file order is not layer order). Drop every cached page outside the pinned
   * layers and the `upcoming` ones; pages still mapped are left alone by fadvise.
   */
  private dropStrays(upcoming: number[]): void {
    const keep = this.layers
      .filter((r, j) => r.size > 0 && (this.pinnedLayers[j] || upcoming.includes(j)))
      .map((r) => [floorBlock(r.address) - this.file.address, ceilBlock(r.address + r.size) - this.file.address] as const)
      .sort((a, b) => a[0] - b[0]);
    let from = 0;
    for (const [start, end] of keep) {
      if (start > from) dropFileCache(this.file.path, from, start - from);
      from = Math.max(from, end);
    }
    if (from < this.file.fileSize) dropFileCache(this.file.path, from, this.file.fileSize - from);
  }

  private outputAddress = -1;

  /** The output matrix as row chunks of about outputChunkBytes. */
  outputChunks(output: Weight): { first: number; rows: number; address: number; byteSize: number; last: boolean }[] {
    const rowBytes = output.byteSize / output.rows;
    // Whole multiples of 8 rows, so a chunk takes the same kernel path as the whole matrix (IQ4_XS's panel).
    const rowsPerChunk = Math.max(8, Math.floor(outputChunkBytes / rowBytes / 8) * 8);
    const chunks = [];
    for (let first = 0; first < output.rows; first += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, output.rows - first);
      chunks.push({ first, rows, address: output.address + first * rowBytes, byteSize: rows * rowBytes, last: first + rows >= output.rows });
    }
    return chunks;
  }

  afterChunk(chunk: { address: number; byteSize: number; last: boolean }): void {
    this.measure();
    if (!this.pinnedOutput) this.outputCursor.releaseUpTo(chunk.address, chunk.address + chunk.byteSize, chunk.last);
  }

  private prefetch(il: number): void {
    const r = this.layers[il];
    if (r && r.size > 0) adviseMemory(r.address, r.size, madvice.willNeed);
  }

  private measure(): void {
    this.maxResidentBytes = Math.max(this.maxResidentBytes, residentBytes(this.file.address, this.file.fileSize));
  }
}
