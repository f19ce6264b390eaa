/**
 * The KV cache of one context: per layer, K and V rows stored as f16 (llama.cpp's default) or q8_0 (half the
 * memory; 34 bytes per 32 values), allocated once.
 *
 * A full-attention layer has a row per position of the context. A sliding-window layer only ever looks back
 * `window` positions, so it keeps a ring of window + batch rows (position p in row p % rows): for Gemma 3 at
 * a long context most layers shrink from the context length to a little more than the window. The price is
 * that a ring forgets: rolling back far (a new prompt sharing only an old prefix, a context shift) can reach
 * positions whose keys were overwritten, and `exactPrefix` says how much of the cache is still usable.
 */
export type KvType = "f16" | "q8_0";

export function kvRowBytes(type: KvType, width: number): number {
  return type === "q8_0" ? (width / 32) * 34 : width * 2;
}

/** Rows a layer keeps: the whole context, or a ring of window + batch for a sliding-window layer. */
export function kvLayerRows(capacity: number, window: number, batch: number): number {
  return window > 0 ? Math.min(capacity, window + batch) : capacity;
}

/** Rounded up to llama.cpp's 256-cell padding of the KV view. */
function pad(n: number): number {
  return Math.ceil(n / 256) * 256;
}

export class KvCache {
  readonly keys: Uint8Array[];
  readonly values: Uint8Array[];
  readonly keyRowBytes: number;
  readonly valueRowBytes: number;
  /** Rows per layer; fewer than `capacity` means a ring. */
  readonly rows: number[];
  /** Per layer, the lowest position whose rows have not been overwritten by a later position. */
  private readonly validFrom: number[];
  /** Positions filled. */
  length = 0;

  constructor(
    readonly layerCount: number,
    readonly capacity: number,
    readonly keyWidth: number,
    readonly valueWidth: number,
    readonly type: KvType = "f16",
    /** Per layer: the sliding window (0: full attention) and the most tokens one forward pass stores. */
    readonly windows: number[] = [],
    private readonly batch = capacity,
  ) {
    this.keyRowBytes = kvRowBytes(type, keyWidth);
    this.valueRowBytes = kvRowBytes(type, valueWidth);
    this.rows = Array.from({ length: layerCount }, (_, il) => kvLayerRows(capacity, windows[il] ?? 0, batch));
    this.validFrom = new Array(layerCount).fill(0);
    this.keys = this.rows.map((rows) => new Uint8Array(rows * this.keyRowBytes));
    this.values = this.rows.map((rows) => new Uint8Array(rows * this.valueRowBytes));
  }

  get bytes(): number {
    return this.rows.reduce((n, rows) => n + rows * (this.keyRowBytes + this.valueRowBytes), 0);
  }

  /**
   * How many cells llama.cpp's attention would see for a layer holding `length` positions (its n_kv): the used
   * cells rounded up to 256, at least 256, at most its cache size — the context rounded up to 256, or for a
   * sliding-window layer window + ubatch rounded up to 256. Where llama.cpp cuts a long decode into per-thread
   * chunks depends on it (attention's split path), so zinc's kernel is told.
   */
  llamaKvCells(layer: number, length: number): number {
    const window = this.windows[layer] ?? 0;
    const size = window > 0 ? pad(Math.min(pad(this.capacity), window + this.batch)) : pad(this.capacity);
    return Math.min(size, Math.max(256, pad(length)));
  }

  /** The ring size of a layer for the attention kernel, 0 when row p holds position p. */
  ringRows(layer: number): number {
    return this.rows[layer] < this.capacity ? this.rows[layer] : 0;
  }

  /** Where position p's row starts in a layer's K (or V) storage, in rows. */
  row(layer: number, position: number): number {
    return position % this.rows[layer];
  }

  /** Records that positions [start, end) were written to every layer. */
  stored(start: number, end: number): void {
    for (let il = 0; il < this.layerCount; il++) {
      if (this.rows[il] < this.capacity) this.validFrom[il] = Math.max(this.validFrom[il], end - this.rows[il]);
    }
  }

  /**
   * The longest prefix of `length` positions that can be kept and extended exactly: `length` itself when
   * every ring still holds the window before it, otherwise 0 (everything must be recomputed).
   */
  exactPrefix(length: number): number {
    if (length === 0) return 0;
    for (let il = 0; il < this.layerCount; il++) {
      const window = this.windows[il] ?? 0;
      if (this.rows[il] < this.capacity && this.validFrom[il] > Math.max(0, length - window + 1)) return 0;
    }
    return length;
  }

  /** Keeps positions 0..length-1 and forgets the rest (check `exactPrefix` first when rings may have wrapped). */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`cannot truncate a cache of ${this.length} positions to ${length}`);
    if (length === 0) this.validFrom.fill(0);
    this.length = length;
  }
}
