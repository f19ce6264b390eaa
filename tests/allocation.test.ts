/**
 * A decode step allocates nothing in the JS heap: the forward pass reuses its buffers and the views of them,
 * and the kernel wrappers build an error message only when a check fails. (Per-token garbage had been ~4,300
 * objects a SmolLM2 token — strings of unused messages, typed-array views, parameter objects — and collecting
 * it ran the GC's helper threads beside the two kernel threads on a 2-core machine.)
 */
import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadKernels } from "../src/native/index.ts";
import { openLoadedModel } from "../src/index.ts";
import { rowBytes, tensorType } from "../src/gguf/types.ts";
import { writeSyntheticModel } from "../scripts/synthetic-model.ts";
import { randomNormal, randomWeights, repoRoot } from "./helpers.ts";

/** Live-or-uncollected objects of every type in the JS heap. */
function objectCount(): number {
  return Object.values(heapStats().objectTypeCounts as Record<string, number>).reduce((a, b) => a + b, 0);
}

/**
 * Objects allocated per call of `step`: the growth over `many` calls less the growth over `few`, per extra
 * call — what measuring itself allocates is the same in both and cancels. Each count starts right after a
 * full collection and is short enough that no collection runs inside it (one would take away what it counts).
 */
function allocationsPerCall(step: (i: number) => void, few: number, many: number): number {
  let i = 0;
  const grow = (n: number) => {
    Bun.gc(true);
    const before = objectCount();
    for (const end = i + n; i < end; i++) step(i);
    return objectCount() - before;
  };
  for (; i < 300; i++) step(i); // the JIT settles first
  const a = grow(few);
  const b = grow(many);
  return (b - a) / (many - few);
}

describe("allocation", () => {
  test("kernel wrappers allocate nothing per call (no message built for a check that passes)", () => {
    const kernels = loadKernels({ threads: 2 });
    const q8_0 = tensorType("Q8_0");
    const q4_0 = tensorType("Q4_0");
    const rows = 32;
    const cols = 256;
    const w = randomWeights(kernels, q4_0, rows, cols, 5);
    const x = randomNormal(cols, 6);
    const xq = new Uint8Array(rowBytes(q8_0, cols));
    const y = new Float32Array(rows);
    const cache = new Uint8Array(4 * rowBytes(q8_0, cols));
    const perCall = allocationsPerCall(
      (i) => {
        kernels.quantizeRows(q8_0, x, 1, cols, xq);
        kernels.matmul(q4_0, w, w.byteLength, xq, y, rows, cols, 1, false, true);
        kernels.quantizeRows(q8_0, x, 1, cols, cache, (i % 4) * rowBytes(q8_0, cols));
        kernels.rmsNorm(x, null, x, 1, cols, 1e-5);
      },
      50,
      250,
    );
    expect(perCall).toBeLessThan(0.05);
  });

  test("a quantized row lands at the asked offset, and an offset past the buffer is refused", () => {
    const kernels = loadKernels({ threads: 2 });
    const q8_0 = tensorType("Q8_0");
    const cols = 64;
    const bytes = rowBytes(q8_0, cols);
    const x = randomNormal(cols, 7);
    const whole = new Uint8Array(bytes);
    kernels.quantizeRows(q8_0, x, 1, cols, whole);
    const cache = new Uint8Array(3 * bytes);
    kernels.quantizeRows(q8_0, x, 1, cols, cache, 2 * bytes);
    expect(cache.subarray(2 * bytes)).toEqual(whole);
    expect(cache.subarray(0, 2 * bytes).every((b) => b === 0)).toBe(true);
    expect(() => kernels.quantizeRows(q8_0, x, 1, cols, cache, 2 * bytes + 1)).toThrow(/quantizeRows output too small/);
    expect(() => kernels.quantizeRows(q8_0, x, 1, cols, cache, -1)).toThrow(/quantizeRows output too small/);
  });

  // Each family's own paths: biases (Qwen2), fused QKV and gate/up (Phi-3), learned positions (GPT-2), a
  // sliding-window ring cache (Gemma 3); each with either KV cache type.
  for (const family of ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gpt2", "tiny-gemma3"]) {
    for (const kvType of ["f16", "q8_0"] as const) {
      test(`a decode step allocates nothing (${family}, ${kvType} KV cache)`, () => {
        const dir = join(repoRoot, ".cache", "synthetic");
        mkdirSync(dir, { recursive: true });
        const path = join(dir, `allocation-${family}.gguf`);
        if (!existsSync(path)) writeSyntheticModel(family, path);
        const model = openLoadedModel(path, { contextLength: 256, kvType });
        try {
          const token = [0];
          const perToken = allocationsPerCall(
            (i) => {
              // Round and round a context of 256 (truncating allocates nothing either), long enough for the
              // JIT to have settled before counting.
              if (model.model.cache.length === 250) model.model.cache.truncate(0);
              token[0] = 1 + (i % 200);
              model.model.forward(token);
            },
            20,
            120,
          );
          // Nothing a token; a ring cache's wrap (every window's worth of tokens) makes two views a layer,
          // and the JIT now and then an object of its own: under one a token on average. (Before: 230–1,100.)
          expect(perToken).toBeLessThan(1);
        } finally {
          model.close();
        }
      });
    }
  }
});
