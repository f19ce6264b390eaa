import { describe, expect, test } from "bun:test";
import { chooseVariant, loadKernels, probeCpu } from "../src/native/index.ts";
import { ZincError } from "../src/errors.ts";
import { normalizedRmse, randomNormal, runCli } from "./helpers.ts";

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

  test("Q8_0 dot SIMD equals the scalar reference, and quantization error is within ggml's bound", () => {
    const n = 32 * 71;
    const x = randomNormal(n, 11);
    const y = randomNormal(n, 12);
    const qx = kernels.quantizeRowQ8_0(x);
    const qy = kernels.quantizeRowQ8_0(y);
    expect(kernels.vecDotQ8_0Q8_0(qx, qy)).toBe(kernels.vecDotQ8_0Q8_0Reference(qx, qy));
    // ggml's test-quantize-fns allows 0.002 normalized RMSE for q8_0 round trips.
    expect(normalizedRmse(x, kernels.dequantizeRowQ8_0(qx, n))).toBeLessThan(0.002 * 4);
  });

  test("matvecF32 and matvecQ8_0 on the pool agree with row dot products", () => {
    const rows = 37;
    const cols = 32 * 9;
    const w = randomNormal(rows * cols, 5);
    const x = randomNormal(cols, 6);
    const y = new Float32Array(rows);
    kernels.matvecF32(w, x, y);
    const want = new Float32Array(rows);
    for (let r = 0; r < rows; r++) want[r] = kernels.dotF32Reference(w.subarray(r * cols, (r + 1) * cols), x);
    expect(normalizedRmse(want, y)).toBeLessThan(1e-6);

    const wq = kernels.quantizeRowQ8_0(w);
    const yq = new Float32Array(rows);
    kernels.matvecQ8_0(wq, x, new Uint8Array((cols / 32) * 34), yq);
    expect(normalizedRmse(want, yq)).toBeLessThan(0.01);
  });

  test("bad lengths are refused before any pointer crosses into Zig", () => {
    expect(() => kernels.dotF32(new Float32Array(4), new Float32Array(5))).toThrow(ZincError);
    expect(() => kernels.matvecF32(new Float32Array(10), new Float32Array(3), new Float32Array(3))).toThrow(ZincError);
    expect(() => kernels.quantizeRowQ8_0(new Float32Array(31))).toThrow(/multiple of 32/);
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
