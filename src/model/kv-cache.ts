/**
 * The KV cache of one context: per layer, K and V rows for positions 0..length-1, stored as f16 (llama.cpp's
 * default) or q8_0 (half the memory; 34 bytes per 32 values). Allocated once at the context length;
 * `truncate` rolls back (speculative decoding, edited conversations) by forgetting rows.
 */
export type KvType = "f16" | "q8_0";

export function kvRowBytes(type: KvType, width: number): number {
  return type === "q8_0" ? (width / 32) * 34 : width * 2;
}

export class KvCache {
  readonly keys: Uint8Array[];
  readonly values: Uint8Array[];
  readonly keyRowBytes: number;
  readonly valueRowBytes: number;
  /** Positions filled. */
  length = 0;

  constructor(
    readonly layerCount: number,
    readonly capacity: number,
    readonly keyWidth: number,
    readonly valueWidth: number,
    readonly type: KvType = "f16",
  ) {
    this.keyRowBytes = kvRowBytes(type, keyWidth);
    this.valueRowBytes = kvRowBytes(type, valueWidth);
    this.keys = Array.from({ length: layerCount }, () => new Uint8Array(capacity * this.keyRowBytes));
    this.values = Array.from({ length: layerCount }, () => new Uint8Array(capacity * this.valueRowBytes));
  }

  get bytes(): number {
    return this.layerCount * this.capacity * (this.keyRowBytes + this.valueRowBytes);
  }

  /** Keeps positions 0..length-1 and forgets the rest. */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`cannot truncate a cache of ${this.length} positions to ${length}`);
    this.length = length;
  }
}
