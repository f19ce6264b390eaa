/**
 * The kernels' inline expf (simd.expfLanes: the softmax's exponentials in attention) gives the C library's expf
 * bits — glibc's FMA build on the x86 variants with FMA, the library call itself elsewhere — which is what
 * llama.cpp calls. CI checks every 251st f32 bit pattern (17 million, both signs, every exponent) and the
 * special values; ZINC_EXPF_SWEEP=1 checks all 2^32 (about 25 s a variant).
 */
import { describe, expect, test } from "bun:test";
import { loadKernels } from "../src/native/index.ts";

const kernels = loadKernels();
const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

describe(`inline expf matches the C library's (kernels: ${kernels.variant})`, () => {
  test("on a sweep of bit patterns", () => {
    const all = process.env.ZINC_EXPF_SWEEP === "1";
    const stride = all ? 1 : 251;
    expect(kernels.expfMismatches(0, Math.ceil(2 ** 32 / stride), stride)).toBe(0);
  });

  test("on the special values and the edges of the normal path", () => {
    // 32.564632 and -63.09946: the two inputs (of 2^32) where an expf with x·(32/ln2) rounded before the
    // subtract, not fused into it, rounds differently from glibc's.
    const specials = [32.564632, -63.09946, 0, -0, Infinity, -Infinity, NaN, 88, -88, 88.72283, 88.72284, -103.97207, -103.97208, -87.33655, 1e-45, -1e-45, 2 ** -126];
    for (const x of specials) expect(kernels.expfMismatches(f32Bits(x), 1, 1)).toBe(0);
    // Around every power of two from 2^-30 to 2^7, both signs: where the reduction's rounding changes.
    for (let e = -30; e <= 7; e++) {
      for (const sign of [1, -1]) expect(kernels.expfMismatches(f32Bits(sign * 2 ** e) - 4096, 8192, 1)).toBe(0);
    }
  });
});
