/**
 * zinc's activation quantization and matrix products give the same bits as llama.cpp's CPU backend
 * (from_float for the activation type, vec_dot per row, repacking off) for every weight type: see
 * tests/fixtures/quantize/README.md. Checked for the decode path (one token) and the tiled prefill path.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tensorType } from "../src/gguf/types.ts";
import { loadKernels } from "../src/native/index.ts";

const fixture = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "quantize", "vec-dot.json"), "utf8")) as {
  rows: number;
  tokens: number;
  cols: number;
  weights_f32_hex: string;
  activations_f32_hex: string;
  cases: { type: string; activation_type: string; activations_hex: string; dots_f32_hex: string; batched_f32_hex: string }[];
};
const f32 = (hex: string) => new Float32Array(Uint8Array.from(Buffer.from(hex, "hex")).buffer);
const weights = f32(fixture.weights_f32_hex);
const activations = f32(fixture.activations_f32_hex);
const kernels = loadKernels();
const { rows, tokens, cols } = fixture;

describe(`dot products match llama.cpp bit for bit (kernels: ${kernels.variant})`, () => {
  test.each(fixture.cases.map((c) => c.type.toUpperCase()))("%s", (name) => {
    const c = fixture.cases.find((x) => x.type.toUpperCase() === name)!;
    const type = tensorType(name);
    const act = tensorType(c.activation_type.toUpperCase());
    const wq = new Uint8Array((rows * cols / type.blockValues) * type.blockBytes);
    kernels.quantizeWeights(type, weights, rows, cols, wq);
    const aq = new Uint8Array((tokens * cols / act.blockValues) * act.blockBytes);
    kernels.quantizeRows(act, activations, tokens, cols, aq);
    expect(Buffer.from(aq).toString("hex")).toBe(c.activations_hex);

    // Decode: one token at a time, as llama.cpp's vec_dot.
    const expected = Array.from(new Uint32Array(f32(c.dots_f32_hex).buffer));
    const rowBytes = aq.byteLength / tokens;
    const decoded: number[] = [];
    for (let t = 0; t < tokens; t++) {
      const one = new Float32Array(rows);
      kernels.matmul(type, wq, wq.byteLength, aq.subarray(t * rowBytes, (t + 1) * rowBytes), one, rows, cols, 1);
      decoded.push(...new Uint32Array(one.buffer));
    }
    expect(decoded).toEqual(expected);
    // Prefill: all tokens in one product, as llama.cpp's mul_mat (tinyBLAS for some types).
    const tiled = new Float32Array(tokens * rows);
    kernels.matmul(type, wq, wq.byteLength, aq, tiled, rows, cols, tokens);
    expect(Array.from(new Uint32Array(tiled.buffer))).toEqual(Array.from(new Uint32Array(f32(c.batched_f32_hex).buffer)));
  });
});
