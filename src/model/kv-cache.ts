/**
 * The KV cache of one context: per layer, K and V rows of f16 for positions 0..length-1. Allocated once at
 * the context length; `truncate` rolls back (speculative decoding, edited conversations) by forgetting rows.
 */
export class KvCache {
  readonly keys: Uint16Array[];
  readonly values: Uint16Array[];
  /** Positions filled. */
  length = 0;

  constructor(
    readonly layerCount: number,
    readonly capacity: number,
    readonly keyWidth: number,
    readonly valueWidth: number,
  ) {
    this.keys = Array.from({ length: layerCount }, () => new Uint16Array(capacity * keyWidth));
    this.values = Array.from({ length: layerCount }, () => new Uint16Array(capacity * valueWidth));
  }

  get bytes(): number {
    return this.layerCount * this.capacity * (this.keyWidth + this.valueWidth) * 2;
  }

  /** Keeps positions 0..length-1 and forgets the rest. */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`cannot truncate a cache of ${this.length} positions to ${length}`);
    this.length = length;
  }
}
