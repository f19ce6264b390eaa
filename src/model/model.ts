/**
 * One decoder skeleton for every supported family. Reads top to bottom like llama2.c's forward():
 * embed → for each layer [norm → QKV → (QK-norm) → RoPE → KV cache → attention → output (→ post-norm) →
 * residual → norm → FFN (→ post-norm) → residual] → final norm → LM head (→ soft-cap).
 *
 * TypeScript decides what to compute; every op is a Zig kernel over buffers allocated once per context.
 * Weights stay in the mapped file. Nothing is allocated per token.
 */
import { ZincError } from "../errors.ts";
import { openGguf, type GgufFile, type TensorInfo } from "../gguf/reader.ts";
import { rowBytes, tensorType, type TensorTypeInfo } from "../gguf/types.ts";
import { loadKernels, nativeAddress, type AttentionParams, type Kernels, type RopeParams } from "../native/index.ts";
import { readConfig, type ModelConfig } from "./config.ts";
import { KvCache, type KvType } from "./kv-cache.ts";
import { defaultBatchSize, estimateMemory, planMemory, streamingBytes, type MemoryEstimate, type MemoryMode } from "./memory.ts";
import { mapWeightsInHugePages, type HugePageReport } from "./huge-pages.ts";
import { streamingWindowBytes, WeightStreamer } from "./streaming.ts";
import { loadWeights, type ModelWeights, type Weight } from "./weights.ts";

const q8_0 = tensorType("Q8_0");

/** Called with every named intermediate tensor of a forward pass (a view: copy it to keep it). */
export type CaptureHook = (name: string, data: Float32Array, shape: number[]) => void;

export interface ForwardOptions {
  /** Logits of every token (perplexity) instead of only the last. */
  allLogits?: boolean;
  capture?: CaptureHook;
  /**
   * Compute each token's products exactly as a one-token step would (speculative verification, whose batch must
   * reproduce plain decoding bit for bit). By default a batch sums as llama.cpp's batched path does.
   */
  oneTokenOrder?: boolean;
}

/** No options: forward's default, one object for every call. */
const noOptions: ForwardOptions = Object.freeze({});

/**
 * Views of the activation buffers for a chunk of T tokens, made the first time a chunk of T tokens runs and
 * kept: decode runs the same T = 1 every token, and a forward pass then allocates nothing (a view per layer
 * and buffer had been ~330 typed arrays a token for the GC).
 */
interface ChunkViews {
  positions: Int32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  attn: Float32Array;
  x: Float32Array;
  proj: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  hidden: Float32Array;
  /** The f16 K and V rows as bytes, for the cache. */
  kHalfBytes: Uint8Array;
  vHalfBytes: Uint8Array;
}

/** Views of one token's row in a buffer, made once per row of the batch (the last layer goes on with a
 * chunk's last row of x and proj alone). */
interface RowViews {
  x: Float32Array;
  proj: Float32Array;
  q: Float32Array;
  attn: Float32Array;
  position: Int32Array;
}

export interface ModelOptions {
  contextLength?: number;
  /**
   * Tokens per forward chunk in prefill: llama.cpp's ubatch, 512 by default as there. The chunking decides
   * which path attention takes (tiled from 64 queries), so the same split keeps prefill identical.
   */
  batchSize?: number;
  threads?: number;
  kernels?: Kernels;
  /** Bytes the model may use (weights + KV cache + scratch); checked before anything is allocated. */
  memoryBudget?: number;
  /** KV cache storage: f16 (default, as llama.cpp) or q8_0. */
  kvType?: KvType;
  /**
   * Re-read a cached file whose pages map as 4 KiB pages so that they map as 2 MiB ones (huge-pages.ts);
   * on by default. Off: the mapping is used as the page cache holds it.
   */
  hugePages?: boolean;
}

/**
 * Whether a model's Q4_0, Q4_K and IQ4_NL products follow llama.cpp's repacked kernels. On x86 with AVX2
 * llama.cpp interleaves Q4_0, Q4_K, IQ4_NL and MXFP4 matrices (Q2_K too with AVX-512) at load by default, and
 * those kernels sum in another order than its plain ones. zinc follows the Q4_0, Q4_K and IQ4_NL ones exactly,
 * not the others: so a model whose only such types are those three — the Q4_0, Q4_K_M, IQ4_NL and IQ4_XS files,
 * among others — gives llama.cpp's default output, and a model with MXFP4 or Q2_K tensors keeps every product
 * in the plain order: llama.cpp's output with repacking off (`--no-repack`).
 */
export function repackedOrderFor(tensorTypes: string[]): boolean {
  const followed = new Set(["Q4_0", "Q4_K", "IQ4_NL"]);
  const othersRepacked = new Set(["MXFP4", "Q2_K"]);
  return tensorTypes.some((t) => followed.has(t)) && !tensorTypes.some((t) => othersRepacked.has(t));
}

export class Model {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly kernels: Kernels;
  readonly contextLength: number;
  readonly batchSize: number;
  readonly cache: KvCache;
  readonly memory: MemoryEstimate;
  /** resident: the weights may all stay in RAM; streaming: they are paged in layer by layer (memory budget). */
  readonly memoryMode: MemoryMode;
  /** Q4_0, Q4_K and IQ4_NL products in llama.cpp's repacked order (repackedOrderFor). */
  readonly repackedOrder: boolean;
  /** How the weights' mapping stood in 2 MiB pages at load, and whether it was read again (huge-pages.ts). */
  readonly hugePages: HugePageReport;

  // Activations, one row per token of the current chunk.
  private readonly x: Float32Array;
  private readonly cur: Float32Array;
  private readonly q: Float32Array;
  private readonly k: Float32Array;
  private readonly v: Float32Array;
  private readonly attn: Float32Array;
  private readonly proj: Float32Array;
  private readonly gate: Float32Array;
  private readonly up: Float32Array;
  private readonly hidden: Float32Array;
  private readonly qkv: Float32Array | null;
  private readonly quantized: Uint8Array;
  private readonly positions: Int32Array;
  private readonly kvHalf: Uint16Array;
  private readonly kvHalfBytes: Uint8Array;
  private logits: Float32Array;
  /** logits' first row (what forward returns for the last token), kept with logits. */
  private lastLogits: Float32Array;
  /** By chunk size: at most batchSize entries (prefill chunks of other sizes add one each, once). */
  private readonly chunkViews = new Map<number, ChunkViews>();
  private readonly rowViews: RowViews[];
  /** cur's first row: GPT-2's position embedding is dequantized into it. */
  private readonly curRow: Float32Array;
  /** Fused QKV (Phi-3): each token's Q, K and V outputs; fused gate/up: each token's halves. */
  private readonly qkvRows: { q: Float32Array; k: Float32Array; v: Float32Array }[] = [];
  private readonly gateUpRows: { gate: Float32Array; up: Float32Array }[] = [];
  /** Filled in place for each layer's attention call. */
  private readonly attentionParams: AttentionParams;
  /** One rotation table per distinct set of rope parameters (Gemma 3 has two: local and global layers),
   * filled once per chunk for its positions and shared by every layer's Q and K. */
  private readonly ropeTables: { params: RopeParams; table: Float32Array }[] = [];
  /** Index into ropeTables of each layer. */
  private readonly ropeTableOfLayer: number[];

  constructor(
    readonly file: GgufFile,
    options: ModelOptions = {},
  ) {
    this.kernels = options.kernels ?? loadKernels({ threads: options.threads });
    this.config = readConfig(file);
    const c = this.config;
    this.contextLength = Math.min(options.contextLength ?? 4096, c.trainedContext);
    if (this.contextLength < 1) throw new ZincError("context length must be at least 1");
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? defaultBatchSize, this.contextLength));
    const B = this.batchSize;
    // Refuse before allocating anything if the budget cannot hold weights + KV cache + scratch.
    const kvType = options.kvType ?? "f16";
    if (kvType === "q8_0" && (c.headDim % 32 !== 0 || c.valueDim % 32 !== 0)) {
      throw new ZincError(`a q8_0 KV cache needs head sizes divisible by 32 (this model's are ${c.headDim}/${c.valueDim})`, "use --kv-type f16");
    }
    this.memory = estimateMemory(c, file.tensors.reduce((n, t) => n + t.byteSize, 0), this.contextLength, B, kvType);
    const window = streamingWindowBytes(file, c.layerCount);
    this.memoryMode = options.memoryBudget !== undefined ? planMemory(this.memory, window, options.memoryBudget, this.contextLength) : "resident";
    // Before the load touches the weights: the 2 MiB advice decides how its faults read them in.
    this.hugePages = this.memoryMode === "resident" && options.hugePages !== false ? mapWeightsInHugePages(file) : { hugeShareBefore: null, hugeShareAfter: null };
    this.weights = loadWeights(file, c, (t, out) => this.dequantizeTensor(t, out));
    this.repackedOrder = repackedOrderFor(file.tensors.map((t) => t.type.name));
    this.streamer =
      this.memoryMode === "streaming"
        ? new WeightStreamer(file, c.layerCount, this.weights.tokenEmbedding, this.weights.output, options.memoryBudget! - streamingBytes(this.memory, window))
        : null;
    this.streamer?.dropCached();
    const qWidth = c.headCount * c.headDim;
    const kWidth = c.kvHeadCount * c.headDim;
    const vWidth = c.kvHeadCount * c.valueDim;
    const ffWidth = c.arch === "phi3" ? 2 * c.feedForward : c.feedForward;
    this.x = new Float32Array(B * c.embedding);
    this.cur = new Float32Array(B * c.embedding);
    this.q = new Float32Array(B * qWidth);
    this.k = new Float32Array(B * kWidth);
    this.v = new Float32Array(B * vWidth);
    this.attn = new Float32Array(B * c.headCount * c.valueDim);
    this.proj = new Float32Array(B * c.embedding);
    this.gate = new Float32Array(B * ffWidth);
    this.up = new Float32Array(B * ffWidth);
    this.hidden = new Float32Array(B * c.feedForward);
    this.qkv = this.weights.layers.some((l) => l.qkv) ? new Float32Array(B * (qWidth + kWidth + vWidth)) : null;
    const widest = Math.max(c.embedding, qWidth, c.headCount * c.valueDim, c.feedForward);
    // Q8_K is the largest activation row per value (292 bytes / 256), Q8_1 next; f32 is 4 bytes per value.
    this.quantized = new Uint8Array(B * widest * 4 + 1024);
    this.positions = new Int32Array(B);
    this.kvHalf = new Uint16Array(B * Math.max(kWidth, vWidth));
    this.kvHalfBytes = new Uint8Array(this.kvHalf.buffer);
    this.logits = new Float32Array(c.vocabSize);
    this.lastLogits = this.logits.subarray(0, c.vocabSize);
    const E = c.embedding;
    const attnWidth = c.headCount * c.valueDim;
    this.curRow = this.cur.subarray(0, E);
    this.rowViews = Array.from({ length: B }, (_, t) => ({
      x: this.x.subarray(t * E, (t + 1) * E),
      proj: this.proj.subarray(t * E, (t + 1) * E),
      q: this.q.subarray(t * qWidth, (t + 1) * qWidth),
      attn: this.attn.subarray(t * attnWidth, (t + 1) * attnWidth),
      position: this.positions.subarray(t, t + 1),
    }));
    const qkv = this.qkv;
    if (qkv) {
      const width = qWidth + kWidth + vWidth;
      for (let t = 0; t < B; t++) {
        this.qkvRows.push({
          q: qkv.subarray(t * width, t * width + qWidth),
          k: qkv.subarray(t * width + qWidth, t * width + qWidth + kWidth),
          v: qkv.subarray(t * width + qWidth + kWidth, (t + 1) * width),
        });
      }
    }
    if (c.arch === "phi3") {
      const F = c.feedForward;
      for (let t = 0; t < B; t++) this.gateUpRows.push({ gate: this.up.subarray(t * 2 * F, t * 2 * F + F), up: this.up.subarray(t * 2 * F + F, (t + 1) * 2 * F) });
    }
    this.attentionParams = { tokens: 1, headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim, kvLength: 0, window: 0, scale: c.attentionScale, softcap: c.attentionSoftcap, kvType: kvType, ringRows: 0, kvCells: 0 };
    this.cache = new KvCache(c.layerCount, this.contextLength, kWidth, vWidth, kvType, c.layers.map((l) => l.window), this.batchSize);
    const tableIndex = new Map<string, number>();
    this.ropeTableOfLayer = c.layers.map((l) => {
      const params: RopeParams = { nRot: c.ropeDims, neox: c.ropeNeox, freqBase: l.ropeBase, freqScale: l.ropeScale, extFactor: 0, attnFactor: 1, corrLow: 0, corrHigh: 0 };
      const key = JSON.stringify(params);
      if (!tableIndex.has(key)) {
        tableIndex.set(key, this.ropeTables.length);
        this.ropeTables.push({ params, table: new Float32Array(B * c.ropeDims) });
      }
      return tableIndex.get(key)!;
    });
  }

  /** Dequantizes a (small) tensor into f32: norm weights and biases. */
  private dequantizeTensor(t: TensorInfo, out: Float32Array): void {
    this.kernels.dequantizeRow(t.type, nativeAddress(this.file.address + t.offset), t.byteSize, out);
  }

  private views(T: number): ChunkViews {
    const known = this.chunkViews.get(T);
    if (known) return known;
    const c = this.config;
    const E = c.embedding;
    const kWidth = c.kvHeadCount * c.headDim;
    const vWidth = c.kvHeadCount * c.valueDim;
    const F = c.feedForward;
    const views: ChunkViews = {
      positions: this.positions.subarray(0, T),
      q: this.q.subarray(0, T * c.headCount * c.headDim),
      k: this.k.subarray(0, T * kWidth),
      v: this.v.subarray(0, T * vWidth),
      attn: this.attn.subarray(0, T * c.headCount * c.valueDim),
      x: this.x.subarray(0, T * E),
      proj: this.proj.subarray(0, T * E),
      gate: this.gate.subarray(0, T * F),
      up: this.up.subarray(0, T * F),
      hidden: this.hidden.subarray(0, T * F),
      kHalfBytes: this.kvHalfBytes.subarray(0, T * kWidth * 2),
      vHalfBytes: this.kvHalfBytes.subarray(0, T * vWidth * 2),
    };
    this.chunkViews.set(T, views);
    return views;
  }

  /**
   * Runs `tokens` at positions cache.length, cache.length + 1, … and returns the logits of the last token
   * (or of every token with allLogits, as rows of vocabSize). The KV cache grows by tokens.length.
   */
  forward(tokens: ArrayLike<number>, options: ForwardOptions = noOptions): Float32Array {
    const c = this.config;
    if (tokens.length === 0) throw new ZincError("forward needs at least one token");
    if (this.cache.length + tokens.length > this.contextLength) {
      throw new ZincError(`${this.cache.length + tokens.length} tokens do not fit the context of ${this.contextLength}`, "use a longer --ctx or a shorter prompt");
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new ZincError(`token id ${t} is outside the vocabulary (0..${c.vocabSize - 1})`);
    }
    if (options.allLogits && this.logits.length < tokens.length * c.vocabSize) {
      this.logits = new Float32Array(tokens.length * c.vocabSize);
      this.lastLogits = this.logits.subarray(0, c.vocabSize);
    }
    this.oneTokenOrder = options.oneTokenOrder ?? false;
    for (let start = 0; start < tokens.length; start += this.batchSize) {
      const end = Math.min(tokens.length, start + this.batchSize);
      const last = end === tokens.length;
      this.forwardChunk(tokens, start, end, options, last ? (options.allLogits ? "all" : "last") : options.allLogits ? "all" : "none", start);
    }
    return options.allLogits ? this.logits.subarray(0, tokens.length * c.vocabSize) : this.lastLogits;
  }

  private forwardChunk(tokens: ArrayLike<number>, start: number, end: number, options: ForwardOptions, logits: "none" | "last" | "all", logitRow: number): void {
    const c = this.config;
    const K = this.kernels;
    const w = this.weights;
    const T = end - start;
    const E = c.embedding;
    const position0 = this.cache.length;
    const capture = options.capture;
    for (let t = 0; t < T; t++) this.positions[t] = position0 + t;
    const V = this.views(T);
    const rowViews = this.rowViews;
    const positions = V.positions;
    if (c.arch !== "gpt2") for (let i = 0; i < this.ropeTables.length; i++) K.ropeTable(T, positions, this.ropeTables[i].params, w.ropeFactors, this.ropeTables[i].table);

    // ---- embedding: x[t] = token_embd[token] (dequantized row), scaled for Gemma, + learned positions (GPT-2)
    const embRow = rowBytes(w.tokenEmbedding.type, E);
    for (let t = 0; t < T; t++) {
      const id = tokens[start + t];
      K.dequantizeRow(w.tokenEmbedding.type, nativeAddress(w.tokenEmbedding.address + id * embRow), embRow, rowViews[t].x);
    }
    this.streamer?.afterEmbedding();
    this.streamer?.start();
    if (c.embeddingScale !== 1) K.scale(this.x, c.embeddingScale, T * E);
    if (w.positionEmbedding) {
      const pe = w.positionEmbedding;
      const peRow = rowBytes(pe.type, E);
      for (let t = 0; t < T; t++) {
        K.dequantizeRow(pe.type, nativeAddress(pe.address + positions[t] * peRow), peRow, this.curRow);
        K.add(rowViews[t].x, this.cur, rowViews[t].x, E);
      }
    }
    capture?.("inp_embd", this.x.subarray(0, T * E), [T, E]);

    const qWidth = c.headCount * c.headDim;
    const kWidth = c.kvHeadCount * c.headDim;
    const vWidth = c.kvHeadCount * c.valueDim;
    for (let il = 0; il < c.layerCount; il++) {
      const L = w.layers[il];
      const { q, k, v } = V;

      // ---- attention block
      this.norm(this.x, L.attnNorm, L.attnNormBias, this.cur, T);
      capture?.(`blk.${il}.attn_norm`, this.cur.subarray(0, T * E), [T, E]);
      if (L.qkv) {
        const qkv = this.qkv!;
        this.matmul(L.qkv, this.cur, T, qkv);
        if (L.qkvBias) K.addRows(qkv, L.qkvBias, T);
        for (let t = 0; t < T; t++) {
          const parts = this.qkvRows[t];
          q.set(parts.q, t * qWidth);
          k.set(parts.k, t * kWidth);
          v.set(parts.v, t * vWidth);
        }
      } else {
        this.matmul(L.q!, this.cur, T, q);
        this.matmul(L.k!, this.cur, T, k, true);
        this.matmul(L.v!, this.cur, T, v, true);
        if (L.qBias) K.addRows(q, L.qBias, T);
        if (L.kBias) K.addRows(k, L.kBias, T);
        if (L.vBias) K.addRows(v, L.vBias, T);
      }
      if (L.qNorm && L.kNorm) {
        K.rmsNorm(q, L.qNorm, q, T * c.headCount, c.headDim, c.normEps);
        K.rmsNorm(k, L.kNorm, k, T * c.kvHeadCount, c.headDim, c.normEps);
      }
      capture?.(`blk.${il}.q_normed`, q, [T, c.headCount, c.headDim]);
      if (c.arch !== "gpt2") {
        const rope = this.ropeTables[this.ropeTableOfLayer[il]];
        K.ropeApply(q, T, c.headCount, c.headDim, rope.params, rope.table);
        K.ropeApply(k, T, c.kvHeadCount, c.headDim, rope.params, rope.table);
      }
      capture?.(`blk.${il}.q`, q, [T, c.headCount, c.headDim]);
      capture?.(`blk.${il}.k`, k, [T, c.kvHeadCount, c.headDim]);
      capture?.(`blk.${il}.v`, v, [T, c.kvHeadCount, c.valueDim]);
      if (c.queryScale !== 1) K.scale(q, c.queryScale, T * qWidth);

      // K and V rows go into the cache as f16 (llama.cpp's default) or q8_0 (quantized as llama.cpp does).
      this.storeCacheRows(k, T, kWidth, this.cache.keys[il], il, position0, this.cache.keyRowBytes, V.kHalfBytes);
      this.storeCacheRows(v, T, vWidth, this.cache.values[il], il, position0, this.cache.valueRowBytes, V.vHalfBytes);

      const attn = V.attn;
      // A batch summed in one-token order (speculative verification) runs each token's attention as its own
      // one-token step would: the one-query or split path for that token's cache length, never the tiled one.
      const step = this.oneTokenOrder ? 1 : T;
      const p = this.attentionParams;
      p.tokens = step;
      p.window = c.layers[il].window;
      p.ringRows = this.cache.ringRows(il);
      for (let t0 = 0; t0 < T; t0 += step) {
        const length = position0 + t0 + step;
        p.kvLength = length;
        p.kvCells = Math.max(length, this.cache.llamaKvCells(il, length));
        const one = step === 1 ? rowViews[t0] : null;
        K.attention(p, one ? one.q : q, one ? one.position : positions, this.cache.keys[il], this.cache.values[il], one ? one.attn : attn);
      }
      capture?.(`blk.${il}.attn_out`, attn, [T, c.headCount * c.valueDim]);
      this.matmul(L.output, attn, T, this.proj);
      if (L.outputBias) K.addRows(this.proj, L.outputBias, T);
      capture?.(`blk.${il}.attn_proj`, this.proj.subarray(0, T * E), [T, E]);
      // After the last layer's attention only the rows whose logits are wanted go on, as in llama.cpp
      // (inp_out_ids): the rest of the layer is per token, and a batch of one sums as one token does where
      // those orders differ (llama.cpp's repacked Q4_K, IQ4_XS), so this is part of matching its output.
      const lastLayer = il === c.layerCount - 1;
      if (lastLayer && logits === "none") {
        this.streamer?.afterLayer(il);
        break;
      }
      const r0 = lastLayer && logits === "last" ? T - 1 : 0;
      const R = T - r0;
      const x = r0 === 0 ? V.x : rowViews[r0].x;
      const proj = r0 === 0 ? V.proj : rowViews[r0].proj;
      if (L.postAttentionNorm) K.rmsNorm(proj, L.postAttentionNorm, proj, R, E, c.normEps);
      K.add(proj, x, x, R * E);
      capture?.(`blk.${il}.attn_residual`, x, [R, E]);

      // ---- feed-forward block
      this.norm(x, L.ffnNorm, L.ffnNormBias, this.cur, R);
      const F = c.feedForward;
      const VR = R === T ? V : this.views(R);
      const hidden = VR.hidden;
      if (c.arch === "gpt2") {
        this.matmul(L.up, this.cur, R, hidden);
        if (L.upBias) K.addRows(hidden, L.upBias, R);
        K.gelu(hidden, hidden, R * F);
      } else if (c.arch === "phi3") {
        // Fused [gate | up] rows: split each token's 2F outputs.
        this.matmul(L.up, this.cur, R, this.up);
        for (let t = 0; t < R; t++) {
          this.gate.set(this.gateUpRows[t].gate, t * F);
          this.hidden.set(this.gateUpRows[t].up, t * F);
        }
        K.swiglu(this.gate, this.hidden, hidden, R * F);
      } else {
        const { gate, up } = VR;
        this.matmul(L.gate!, this.cur, R, gate);
        this.matmul(L.up, this.cur, R, up, true);
        if (c.activation === "gelu") K.geglu(gate, up, hidden, R * F);
        else K.swiglu(gate, up, hidden, R * F);
      }
      capture?.(`blk.${il}.ffn_hidden`, hidden, [R, F]);
      this.matmul(L.down, hidden, R, proj);
      if (L.downBias) K.addRows(proj, L.downBias, R);
      capture?.(`blk.${il}.ffn_out`, proj, [R, E]);
      if (L.postFfnNorm) K.rmsNorm(proj, L.postFfnNorm, proj, R, E, c.normEps);
      K.add(proj, x, x, R * E);
      capture?.(`blk.${il}.out`, x, [R, E]);
      this.streamer?.afterLayer(il);
    }
    this.cache.length = position0 + T;
    this.cache.stored(position0, position0 + T);

    if (logits === "none") return;
    // ---- output: only the rows whose logits are wanted go through the final norm and the LM head
    const first = logits === "last" ? T - 1 : 0;
    const rows = T - first;
    this.norm(first === 0 ? this.x : rowViews[first].x, w.outputNorm, w.outputNormBias, this.cur, rows);
    capture?.("result_norm", this.cur.subarray(0, rows * E), [rows, E]);
    const out = logits === "last" ? this.lastLogits : this.logits.subarray(logitRow * c.vocabSize, (logitRow + rows) * c.vocabSize);
    if (this.streamer) this.streamedOutput(rows, out);
    else this.matmul(w.output, this.cur, rows, out);
    if (c.finalSoftcap) K.softcap(out, c.finalSoftcap, rows * c.vocabSize);
    capture?.("result_output", out, [rows, c.vocabSize]);
  }

  /**
   * The output matrix in row chunks, each released after use (streaming mode). The same kernel calls per token
   * count as the whole matrix, so the logits are the same bits as in resident mode.
   */
  private streamedOutput(rows: number, out: Float32Array): void {
    const output = this.weights.output;
    const V = output.rows;
    const act = tensorType(output.type.activation!);
    this.kernels.quantizeRows(act, this.cur, rows, output.cols, this.quantized);
    this.lastQuantized.input = null;
    for (const chunk of this.streamer!.outputChunks(output)) {
      if (rows === 1) {
        this.kernels.matmul(output.type, nativeAddress(chunk.address), chunk.byteSize, this.quantized, out.subarray(chunk.first, chunk.first + chunk.rows), chunk.rows, output.cols, 1, this.oneTokenOrder, this.repackedOrder);
      } else {
        if (!this.chunkOut || this.chunkOut.length < chunk.rows * rows) this.chunkOut = new Float32Array(chunk.rows * this.batchSize);
        this.kernels.matmul(output.type, nativeAddress(chunk.address), chunk.byteSize, this.quantized, this.chunkOut, chunk.rows, output.cols, rows, this.oneTokenOrder, this.repackedOrder);
        for (let t = 0; t < rows; t++) out.set(this.chunkOut.subarray(t * chunk.rows, (t + 1) * chunk.rows), t * V + chunk.first);
      }
      this.streamer!.afterChunk(chunk);
    }
  }

  /** Stores `count` K or V rows for positions position0… in a layer's cache; a ring wraps at most once. */
  private storeCacheRows(rows: Float32Array, count: number, width: number, cache: Uint8Array, layer: number, position0: number, rowBytes: number, halfBytes: Uint8Array): void {
    const slot = this.cache.row(layer, position0);
    // Rows first..count-1 (if any) wrap to the ring's start.
    const first = Math.min(count, this.cache.rows[layer] - slot);
    if (this.cache.type === "q8_0") {
      this.kernels.quantizeRows(q8_0, rows, first, width, cache, slot * rowBytes);
      if (first < count) this.kernels.quantizeRows(q8_0, rows.subarray(first * width), count - first, width, cache);
      return;
    }
    this.kernels.f32ToF16(rows, this.kvHalf, count * width);
    if (first === count) cache.set(halfBytes, slot * rowBytes);
    else {
      cache.set(this.kvHalfBytes.subarray(0, first * width * 2), slot * rowBytes);
      cache.set(this.kvHalfBytes.subarray(first * width * 2, count * width * 2), 0);
    }
  }

  private norm(x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, rows: number): void {
    const c = this.config;
    if (c.norm === "layer") this.kernels.layerNorm(x, weight, bias, out, rows, c.embedding, c.normEps);
    else this.kernels.rmsNorm(x, weight, out, rows, c.embedding, c.normEps);
  }

  /** What `quantized` holds now (mutated in place: no allocation per matmul). */
  private readonly lastQuantized: { input: Float32Array | null; type: TensorTypeInfo | null; rows: number } = { input: null, type: null, rows: 0 };
  /** Set per forward call from ForwardOptions.oneTokenOrder. */
  private oneTokenOrder = false;
  /** Streaming mode's page-in / page-out driver; null when the weights stay resident. */
  readonly streamer: WeightStreamer | null;
  /** Streaming mode: one output chunk's logits for several tokens, before they are scattered (made once). */
  private chunkOut: Float32Array | null = null;

  /**
   * out[t] = W · input[t] for t < rows. The input is quantized to W's activation type first; `reuse` skips
   * that when the previous matmul already quantized the same input to the same type (Q, K and V share it).
   */
  private matmul(weight: Weight, input: Float32Array, rows: number, out: Float32Array, reuse = false): void {
    const act = tensorType(weight.type.activation!);
    const last = this.lastQuantized;
    if (!(reuse && last.input === input && last.type === act && last.rows === rows)) {
      this.kernels.quantizeRows(act, input, rows, weight.cols, this.quantized);
      last.input = input;
      last.type = act;
      last.rows = rows;
    }
    this.kernels.matmul(weight.type, nativeAddress(weight.address), weight.byteSize, this.quantized, out, weight.rows, weight.cols, rows, this.oneTokenOrder, this.repackedOrder);
  }

  close(): void {
    this.file.close();
  }
}

export function openModel(path: string, options: ModelOptions = {}): Model {
  const file = openGguf(path);
  try {
    return new Model(file, options);
  } catch (err) {
    file.close();
    throw err;
  }
}
