/**
 * zinc's weight quantizers produce exactly the bytes llama.cpp's quantizer does (ggml_quantize_chunk with no
 * importance matrix, as llama-quantize calls it) on rows built to reach every branch: see the fixture's README.
 * Also: each quantize → dequantize round trip stays within the error bounds of ggml's own quantization test.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tensorType } from "../src/gguf/types.ts";
import { loadKernels } from "../src/native/index.ts";

const fixture = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "quantize", "ggml.json"), "utf8")) as {
  rows: number;
  cols: number;
  input_f32_hex: string;
  cases: { type: string; bytes_hex: string }[];
};
const input = new Float32Array(Uint8Array.from(Buffer.from(fixture.input_f32_hex, "hex")).buffer);
const kernels = loadKernels();

describe("quantization matches llama.cpp byte for byte", () => {
  test.each(fixture.cases.map((c) => c.type.toUpperCase()))("%s", (name) => {
    const type = tensorType(name);
    const expected = Buffer.from(fixture.cases.find((c) => c.type.toUpperCase() === name)!.bytes_hex, "hex");
    const out = new Uint8Array(expected.byteLength);
    kernels.quantizeWeights(type, input, fixture.rows, fixture.cols, out);
    // Report the first differing block, not just "not equal", so a regression points at its branch.
    const blockBytes = type.blockBytes;
    const firstBad = out.findIndex((v, i) => v !== expected[i]);
    expect(firstBad === -1 ? "identical" : `first difference in block ${Math.floor(firstBad / blockBytes)} (byte ${firstBad % blockBytes})`).toBe("identical");
  });
});

// ggml's test-quantize-fns, reproduced: its data (0.1 + 2 cos i, 4096 values), its error measure
// (sqrt(Σ diff²) / n) and its thresholds (MAX_QUANTIZATION_TOTAL_ERROR and the 2-bit, 3-bit and ternary ones).
const bounds: Record<string, number> = {
  Q8_0: 0.002, Q6_K: 0.002, Q5_0: 0.002, Q5_1: 0.002, Q5_K: 0.002, Q4_0: 0.002, Q4_1: 0.002, Q4_K: 0.002,
  IQ4_NL: 0.002, IQ4_XS: 0.002, Q3_K: 0.004, Q2_K: 0.0075, TQ1_0: 0.01, TQ2_0: 0.01,
};

describe("quantize → dequantize error within ggml's test-quantize-fns bounds", () => {
  const n = 32 * 128;
  const x = Float32Array.from({ length: n }, (_, i) => 0.1 + 2 * Math.cos(i));
  test.each(Object.keys(bounds))("%s", (name) => {
    const type = tensorType(name);
    const q = new Uint8Array((n / type.blockValues) * type.blockBytes);
    kernels.quantizeWeights(type, x, 1, n, q);
    const back = new Float32Array(n);
    kernels.dequantizeRow(type, q, q.byteLength, back);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (x[i] - back[i]) ** 2;
    expect(Math.sqrt(sum) / n).toBeLessThan(bounds[name]);
  });
});
