/**
 * Token sampling: greedy, or llama.cpp's default chain — repetition/presence/frequency penalties over a
 * window, top-k, typical-p, top-p, min-p, temperature — then a draw from a seeded generator, so the same seed
 * gives the same output. Buffers are allocated once per sampler, not per token.
 */
import { ZincError } from "../errors.ts";

export interface SamplingOptions {
  /** 0 means greedy (argmax). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  typicalP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** How many recent tokens the penalties look at. */
  penaltyWindow?: number;
  seed?: number;
}

export const defaultSampling: Required<SamplingOptions> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  typicalP: 1,
  repeatPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyWindow: 64,
  seed: 0,
};

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = logits[0];
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      bestValue = logits[i];
      best = i;
    }
  }
  return best;
}

/** xoshiro128** seeded by splitmix32: fast, small, and the same sequence on every platform. */
export class Random {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Sampler {
  readonly options: Required<SamplingOptions>;
  private readonly random: Random;
  private readonly ids: Int32Array;
  private readonly probs: Float64Array;
  private readonly counts = new Map<number, number>();

  constructor(vocabSize: number, options: SamplingOptions = {}) {
    this.options = { ...defaultSampling, ...stripUndefined(options) };
    const o = this.options;
    if (!(o.temperature >= 0)) throw new ZincError(`temperature must be ≥ 0, got ${o.temperature}`);
    if (!(o.topP > 0 && o.topP <= 1)) throw new ZincError(`top-p must be in (0, 1], got ${o.topP}`);
    if (!(o.minP >= 0 && o.minP < 1)) throw new ZincError(`min-p must be in [0, 1), got ${o.minP}`);
    if (!(o.typicalP > 0 && o.typicalP <= 1)) throw new ZincError(`typical-p must be in (0, 1], got ${o.typicalP}`);
    if (!Number.isInteger(o.topK) || o.topK < 0) throw new ZincError(`top-k must be a whole number ≥ 0, got ${o.topK}`);
    this.random = new Random(o.seed);
    this.ids = new Int32Array(vocabSize);
    this.probs = new Float64Array(vocabSize);
  }

  get greedy(): boolean {
    return this.options.temperature === 0;
  }

  /** Picks the next token. `history` is every token so far (prompt included), for the penalties. */
  sample(logits: Float32Array, history: ArrayLike<number> = []): number {
    const o = this.options;
    this.applyPenalties(logits, history);
    if (this.greedy) return argmax(logits);
    return this.draw(this.distribution(logits));
  }

  /** The candidates and probabilities after every filter and the temperature: ids[0..n), probs[0..n). */
  distribution(logits: Float32Array): number {
    const o = this.options;
    const ids = this.ids;
    const probs = this.probs;
    let n = logits.length;
    for (let i = 0; i < n; i++) ids[i] = i;

    // top-k first: it bounds the sort that the other filters need (a heap selection, O(V log k)).
    const k = o.topK > 0 ? Math.min(o.topK, n) : n;
    n = topK(logits, k, ids);

    const softmax = (count: number, temperature: number) => {
      const max = logits[ids[0]] / temperature;
      let sum = 0;
      for (let i = 0; i < count; i++) {
        probs[i] = Math.exp(logits[ids[i]] / temperature - max);
        sum += probs[i];
      }
      for (let i = 0; i < count; i++) probs[i] /= sum;
    };

    if (o.typicalP < 1) {
      softmax(n, 1);
      let entropy = 0;
      for (let i = 0; i < n; i++) if (probs[i] > 0) entropy -= probs[i] * Math.log(probs[i]);
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(-Math.log(probs[a]) - entropy) - Math.abs(-Math.log(probs[b]) - entropy));
      let cumulative = 0;
      let keep = 0;
      while (keep < n) {
        cumulative += probs[order[keep]];
        keep++;
        if (cumulative >= o.typicalP) break;
      }
      const kept = order.slice(0, keep).map((i) => ids[i]).sort((a, b) => logits[b] - logits[a]);
      n = kept.length;
      for (let i = 0; i < n; i++) ids[i] = kept[i];
    }
    if (o.topP < 1) {
      softmax(n, 1);
      let cumulative = 0;
      for (let i = 0; i < n; i++) {
        cumulative += probs[i];
        if (cumulative >= o.topP) {
          n = i + 1;
          break;
        }
      }
    }
    if (o.minP > 0) {
      softmax(n, 1);
      const threshold = probs[0] * o.minP;
      let keep = 1;
      while (keep < n && probs[keep] >= threshold) keep++;
      n = keep;
    }
    softmax(n, o.temperature);
    return n;
  }

  candidates(n: number): { ids: Int32Array; probs: Float64Array } {
    return { ids: this.ids.subarray(0, n), probs: this.probs.subarray(0, n) };
  }

  /** The full sampling distribution (penalties, filters, temperature) as id → probability. */
  probabilities(logits: Float32Array, history: ArrayLike<number> = []): Map<number, number> {
    this.applyPenalties(logits, history);
    const n = this.distribution(logits);
    const out = new Map<number, number>();
    for (let i = 0; i < n; i++) out.set(this.ids[i], this.probs[i]);
    return out;
  }

  /** Draws from an id → weight map (weights need not sum to 1). */
  drawFrom(weights: Map<number, number>): number {
    let total = 0;
    for (const w of weights.values()) total += w;
    let r = this.random.next() * total;
    let last = -1;
    for (const [id, w] of weights) {
      last = id;
      r -= w;
      if (r < 0) return id;
    }
    return last;
  }

  private draw(n: number): number {
    const r = this.random.next();
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      cumulative += this.probs[i];
      if (r < cumulative) return this.ids[i];
    }
    return this.ids[n - 1];
  }

  /** Uniform [0,1) from this sampler's seeded stream (speculative acceptance uses it too). */
  uniform(): number {
    return this.random.next();
  }

  private applyPenalties(logits: Float32Array, history: ArrayLike<number>): void {
    const o = this.options;
    if (o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0) return;
    const counts = this.counts;
    counts.clear();
    for (let i = Math.max(0, history.length - o.penaltyWindow); i < history.length; i++) counts.set(history[i], (counts.get(history[i]) ?? 0) + 1);
    for (const [id, count] of counts) {
      let l = logits[id];
      // llama.cpp: divide positive logits, multiply negative ones, then the OpenAI-style penalties.
      l = l > 0 ? l / o.repeatPenalty : l * o.repeatPenalty;
      l -= count * o.frequencyPenalty + o.presencePenalty;
      logits[id] = l;
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Writes the ids of the k largest logits into out[0..k), largest first; returns k. */
export function topK(logits: Float32Array, k: number, out: Int32Array): number {
  const n = logits.length;
  if (k >= n) {
    const all = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
    for (let i = 0; i < n; i++) out[i] = all[i];
    return n;
  }
  // Min-heap of the best k seen so far, by logit.
  const heap = new Int32Array(k);
  let size = 0;
  const less = (a: number, b: number) => logits[a] < logits[b] || (logits[a] === logits[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && less(heap[l], heap[m])) m = l;
      if (r < size && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      const t = heap[i];
      heap[i] = heap[m];
      heap[m] = t;
      i = m;
    }
  };
  for (let id = 0; id < n; id++) {
    if (size < k) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        const t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
      }
    } else if (less(heap[0], id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  const sorted = Array.from(heap).sort((a, b) => logits[b] - logits[a] || a - b);
  for (let i = 0; i < k; i++) out[i] = sorted[i];
  return k;
}
