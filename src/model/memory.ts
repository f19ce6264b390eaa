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

/** Refuses, before any allocation, a model that does not fit the budget — with the numbers and the ways out. */
export function checkMemoryBudget(estimate: MemoryEstimate, budget: number, contextLength: number): void {
  if (estimate.totalBytes <= budget) return;
  throw new ZincError(
    `not enough memory: this model needs ${mib(estimate.totalBytes)} (weights ${mib(estimate.weightBytes)} + KV cache ${mib(estimate.kvCacheBytes)} at --ctx ${contextLength} + scratch ${mib(estimate.scratchBytes)}) but the budget is ${mib(budget)}`,
    "use a smaller quant, a shorter --ctx, --kv-type q8_0, or raise --mem-budget",
  );
}
