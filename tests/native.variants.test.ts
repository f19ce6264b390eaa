import { describe, expect, test } from "bun:test";
import { chooseVariant, loadKernels, probeCpu } from "../src/native/index.ts";
import { ZincError } from "../src/errors.ts";
import { rowBytes, tensorType } from "../src/gguf/types.ts";
import { openGguf } from "../src/gguf/reader.ts";
import { join } from "node:path";
import { normalizedRmse, randomNormal, randomWeights, runCli, sharedDir } from "./helpers.ts";

const report = probeCpu();
const runnable = report.candidates.filter((c) => c.score > 0).map((c) => c.name);
const notRunnable = report.candidates.filter((c) => c.score === 0).map((c) => c.name);

describe("variant choice", () => {
  test("auto picks the highest-scoring runnable variant", () => {
    const best = report.candidates.reduce((a, b) => (b.score > a.score ? b : a));
    expect(chooseVariant("auto")).toBe(best.name);
  });

  test("the probe agrees with /proc/cpuinfo on AVX2 and AVX-512", async () => {
    const cpuinfo = await Bun.file("/proc/cpuinfo").text();
    const flags = new Set((cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/));
    expect(report.features.has("avx2")).toBe(flags.has("avx2"));
    expect(report.features.has("avx512f")).toBe(flags.has("avx512f"));
    expect(report.features.has("avx512vnni")).toBe(flags.has("avx512_vnni"));
  });

  test("opening a GGUF keeps the kernel thread count the caller chose", () => {
    // Mapping a file loads the kernel library; it must not resize the pool to the default (it did: a bench
    // or a draft model opened after --threads 1 ran on every core).
    const kernels = loadKernels({ threads: 1 });
    try {
      openGguf(join(sharedDir, "fixtures", "vocab", "ggml-vocab-llama-spm.gguf")).close();
      expect(kernels.native.zinc_pool_threads()).toBe(1);
    } finally {
      loadKernels({ threads: 2 });
    }
  });

  test("an unknown variant name is a clear error", () => {
    expect(() => chooseVariant("avx9000")).toThrow(/unknown kernel variant "avx9000"/);
  });

  test("a variant for another architecture is refused", () => {
    const foreign = report.arch === "x64" ? "neon" : "avx2";
    expect(() => chooseVariant(foreign)).toThrow(ZincError);
  });

  test.each(notRunnable.length ? notRunnable : ["(none)"])("a variant this CPU cannot run is refused: %s", (name) => {
    if (name === "(none)") return; // every variant of this arch runs here
    expect(() => chooseVariant(name)).toThrow(/cannot run kernel variant .* it lacks/);
  });
});

describe.each(runnable)("kernels of variant %s", (variant) => {
  const kernels = loadKernels({ variant, threads: 2 });

  test("reports its own name and thread count", () => {
    expect(kernels.variant).toBe(variant);
    expect(String(kernels.native.zinc_variant_name())).toBe(variant);
    expect(kernels.native.zinc_pool_threads()).toBe(2);
  });

  test("dotF32 SIMD equals the f64 reference within f32 rounding", () => {
    for (const n of [1, 3, 8, 17, 64, 129, 1000, 4097]) {
      const a = randomNormal(n, n);
      const b = randomNormal(n, n + 1);
      const want = kernels.dotF32Reference(a, b);
      expect(Math.abs(kernels.dotF32(a, b) - want)).toBeLessThan(1e-5 * n + 1e-6);
    }
  });

  test("the read-bandwidth probe reads every byte: its checksum equals one computed here", () => {
    const bytes = new Uint8Array(1 << 20);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    for (const [offset, length] of [[0, 0], [0, 1], [3, 130], [1, 4099], [0, bytes.length], [5, bytes.length - 5]]) {
      const view = bytes.subarray(offset, offset + length);
      // Wrapping sum of little-endian u64 words, then the trailing bytes.
      const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
      let want = 0n;
      const words = Math.floor(length / 8);
      for (let w = 0; w < words; w++) want = (want + dv.getBigUint64(w * 8, true)) & 0xffffffffffffffffn;
      for (let i = words * 8; i < length; i++) want = (want + BigInt(view[i])) & 0xffffffffffffffffn;
      expect(kernels.readChecksumReference(view)).toBe(want);
      expect(kernels.readChecksum(view)).toBe(want);
    }
  });

  test("matmul SIMD equals the scalar reference for every weight type, over several tokens", () => {
    const rows = 7;
    const cols = 512;
    const tokens = 5;
    const x = randomNormal(tokens * cols, 21);
    for (const name of ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"]) {
      const type = tensorType(name);
      const weights = randomWeights(kernels, type, rows, cols, 100 + type.id);
      const act = tensorType(type.activation!);
      const xq = new Uint8Array(tokens * rowBytes(act, cols));
      kernels.quantizeRows(act, x, tokens, cols, xq);
      const y = new Float32Array(tokens * rows);
      // The scalar reference is the one-token order; batched orders are checked against llama.cpp in
      // tests/vec-dot-reference.variants.test.ts.
      kernels.matmul(type, weights, weights.byteLength, xq, y, rows, cols, tokens, true);
      const wRow = rowBytes(type, cols);
      const aRow = rowBytes(act, cols);
      for (let t = 0; t < tokens; t++) {
        for (let r = 0; r < rows; r++) {
          const want = kernels.vecDotReference(type, weights.subarray(r * wRow, (r + 1) * wRow), xq.subarray(t * aRow, (t + 1) * aRow), cols);
          const got = y[t * rows + r];
          // Integer types: exact. Float types: the reference sums in f64.
          if (["F32", "F16", "BF16"].includes(name)) expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.sqrt(cols) * 4);
          else expect(got).toBe(want);
        }
      }
    }
  });

  test("Q8_0 round trip error is within ggml's bound", () => {
    const q8 = tensorType("Q8_0");
    const n = 32 * 71;
    const x = randomNormal(n, 11);
    const q = new Uint8Array(rowBytes(q8, n));
    kernels.quantizeRows(q8, x, 1, n, q);
    const back = new Float32Array(n);
    kernels.dequantizeRow(q8, q, q.byteLength, back);
    // ggml's test-quantize-fns allows 0.002 for q8_0 on its synthetic data; normal data is harder, so 4×.
    expect(normalizedRmse(x, back)).toBeLessThan(0.008);
  });

  test("attention over a q8_0 cache agrees with the f16 cache within q8_0 error, for GQA 1:1 to 7:1", () => {
    for (const [heads, kvHeads, headDim] of [[4, 4, 64], [4, 2, 64], [6, 2, 128], [8, 2, 96], [7, 1, 256]]) {
      const tokens = 3;
      const kvLength = 19;
      const kvRow = kvHeads * headDim;
      const q = randomNormal(tokens * heads * headDim, heads);
      const k = randomNormal(kvLength * kvRow, headDim);
      const v = randomNormal(kvLength * kvRow, headDim + 1);
      const k16 = new Uint16Array(k.length);
      const v16 = new Uint16Array(v.length);
      kernels.f32ToF16(k, k16, k.length);
      kernels.f32ToF16(v, v16, v.length);
      const q8 = tensorType("Q8_0");
      const kq = new Uint8Array((k.length / 32) * 34);
      const vq = new Uint8Array((v.length / 32) * 34);
      kernels.quantizeRows(q8, k, kvLength, kvRow, kq);
      kernels.quantizeRows(q8, v, kvLength, kvRow, vq);
      const positions = Int32Array.from([kvLength - 3, kvLength - 2, kvLength - 1]);
      const params = { tokens, headCount: heads, kvHeadCount: kvHeads, headDim, kvLength, window: 0, scale: 1 / Math.sqrt(headDim), softcap: 0 };
      const outF16 = new Float32Array(tokens * heads * headDim);
      const outQ8 = new Float32Array(tokens * heads * headDim);
      kernels.attention({ ...params, kvType: "f16" }, q, positions, new Uint8Array(k16.buffer), new Uint8Array(v16.buffer), outF16);
      kernels.attention({ ...params, kvType: "q8_0" }, q, positions, kq, vq, outQ8);
      expect(normalizedRmse(outF16, outQ8)).toBeLessThan(0.02);
    }
  });

  test("bad lengths are refused before any pointer crosses into Zig", () => {
    expect(() => kernels.dotF32(new Float32Array(4), new Float32Array(5))).toThrow(ZincError);
    const q8 = tensorType("Q8_0");
    expect(() => kernels.quantizeRows(q8, new Float32Array(31), 1, 31, new Uint8Array(100))).toThrow(/whole number of Q8_0 blocks/);
    expect(() => kernels.matmul(q8, new Uint8Array(34), 34, new Uint8Array(34), new Float32Array(2), 2, 32, 1)).toThrow(/matmul weights/);
    expect(() => kernels.dequantizeRow(q8, new Uint8Array(10), 10, new Float32Array(32))).toThrow(/source too small/);
  });
});

describe("zinc doctor", () => {
  test("names the chosen variant and the features", () => {
    const out = runCli(["doctor", "--json"], { env: { ZINC_KERNELS: undefined } });
    expect(out.exitCode).toBe(0);
    const doc = JSON.parse(out.stdout);
    expect(doc.chosen).toBe(report.best);
    expect(doc.features).toContain(report.arch === "x64" ? "sse3" : "neon");
    if (report.features.has("avx512vnni") && report.features.has("os_avx512")) expect(doc.chosen).toBe("avx512");
  });

  test("ZINC_KERNELS forces a runnable variant", () => {
    const out = runCli(["doctor", "--json"], { env: { ZINC_KERNELS: "baseline" } });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout).chosen).toBe(report.arch === "x64" ? "baseline" : "neon");
  });

  test("a bad ZINC_KERNELS is one line on stderr and exit 1", () => {
    const out = runCli(["doctor"], { env: { ZINC_KERNELS: "sse9" } });
    expect(out.exitCode).toBe(1);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toContain('unknown kernel variant "sse9"');
  });

  test("--threads is validated", () => {
    const out = runCli(["--threads", "zero", "doctor"]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("--threads must be a whole number");
    const ok = runCli(["--threads", "1", "doctor", "--json"]);
    expect(JSON.parse(ok.stdout).threads).toBe(1);
  });
});
