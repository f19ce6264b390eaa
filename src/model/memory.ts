/**
 * What running a model needs in memory, computed from its config before anything is allocated: weights
 * (mapped from the file), the KV cache at the chosen context, and the activation scratch.
 */
import { ZincError } from "../errors.ts";
import type { ModelConfig } from "./config.ts";
import { kvLayerRows, kvRowBytes, type KvType } from "./kv-cache.ts";

export interface MemoryEstimate {
  weightBytes: number;
  kvCacheBytes: number;
  scratchBytes: number;
  totalBytes: number;
}

/** Tokens per prefill chunk unless asked otherwise: llama.cpp's default n_ubatch. */
export const defaultBatchSize = 512;

export function estimateMemory(config: ModelConfig, weightBytes: number, contextLength: number, batchSize: number, kvType: KvType = "f16"): MemoryEstimate {
  // Sliding-window layers keep a ring of window + batch rows, the others a row per position.
  const rowBytes = kvRowBytes(kvType, config.kvHeadCount * config.headDim) + kvRowBytes(kvType, config.kvHeadCount * config.valueDim);
  const kvCacheBytes = config.layers.reduce((n, layer) => n + kvLayerRows(contextLength, layer.window, Math.min(batchSize, contextLength)) * rowBytes, 0);
  const widest = Math.max(config.embedding, config.headCount * config.headDim, config.feedForward);
  const scratchBytes = 4 * batchSize * (6 * config.embedding + 3 * config.feedForward + 2 * config.headCount * config.headDim + widest) + 4 * config.vocabSize;
  return { weightBytes, kvCacheBytes, scratchBytes, totalBytes: weightBytes + kvCacheBytes + scratchBytes };
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(0)} MiB`;
}

export type MemoryMode = "resident" | "streaming";

/** Bytes streaming mode keeps: KV cache, scratch, and the window of weights resident at once. */
export function streamingBytes(estimate: MemoryEstimate, windowBytes: number): number {
  return estimate.kvCacheBytes + estimate.scratchBytes + Math.min(windowBytes, estimate.weightBytes);
}

/**
 * Picks how to run within the budget, before any allocation: resident when weights + KV cache + scratch fit;
 * streaming when the KV cache, the scratch and a window of weights (two layers and an output chunk) fit;
 * otherwise refuses with the numbers and the ways out.
 */
/** The mode a budget gives, without refusing: what `zinc inspect` and `zinc models` show. */
export function memoryModeFor(estimate: MemoryEstimate, windowBytes: number, budget: number): MemoryMode | "refused" {
  if (estimate.totalBytes <= budget) return "resident";
  return streamingBytes(estimate, windowBytes) <= budget ? "streaming" : "refused";
}

export function planMemory(estimate: MemoryEstimate, windowBytes: number, budget: number, contextLength: number): MemoryMode {
  const mode = memoryModeFor(estimate, windowBytes, budget);
  if (mode !== "refused") return mode;
  const streaming = streamingBytes(estimate, windowBytes);
  throw new ZincError(
    `not enough memory: this model needs ${mib(estimate.totalBytes)} (weights ${mib(estimate.weightBytes)} + KV cache ${mib(estimate.kvCacheBytes)} at --ctx ${contextLength} + scratch ${mib(estimate.scratchBytes)}), and ${mib(streaming)} even streaming its weights, but the budget is ${mib(budget)}`,
    "use a smaller quant, a shorter --ctx, --kv-type q8_0, or raise --mem-budget",
  );
}
