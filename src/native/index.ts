/**
 * Kernel selection and the typed kernel interface. `loadKernels()` probes the CPU through the baseline
 * library (it runs on any x86-64 and its probe checks that the OS saves AVX/AVX-512 state), picks the best
 * variant this machine can run — or the one ZINC_KERNELS names — opens it and starts its thread pool.
 */
import { arch } from "node:process";
import { ZincError } from "../errors.ts";
import { decodeFeatures, physicalCoreCount, type Feature } from "./cpu.ts";
import { openLibrary, type NativeLibrary, type NativeSymbols } from "./ffi.ts";
import { isVariantName, missingFeatures, scoreVariant, variants, type VariantName } from "./variants.ts";

export type { VariantName } from "./variants.ts";
export { variants } from "./variants.ts";

export interface CpuReport {
  arch: string;
  features: Set<Feature>;
  /** Every variant of this architecture with its score (0: cannot run here) and what it lacks. */
  candidates: { name: VariantName; score: number; missing: Feature[] }[];
  best: VariantName;
}

/** The library that can always run here and whose probe tells what else can. */
function probeVariant(): VariantName {
  if (arch === "x64") return "baseline";
  if (arch === "arm64") return "neon";
  throw new ZincError(`unsupported CPU architecture ${arch}`, "zinc runs on x86-64 and aarch64 Linux");
}

let cachedReport: CpuReport | undefined;

export function probeCpu(): CpuReport {
  if (cachedReport) return cachedReport;
  const probe = openLibrary(probeVariant());
  const features = decodeFeatures(BigInt(probe.symbols.zinc_cpu_features()));
  probe.close();
  const candidates = variants
    .filter((v) => v.arch === arch)
    .map((v) => ({ name: v.name, score: scoreVariant(v, arch, features), missing: missingFeatures(v, features) }));
  const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  if (best.score === 0) {
    throw new ZincError(`no kernel variant runs on this CPU (features: ${[...features].join(" ")})`, "file an issue with `zinc doctor` output");
  }
  cachedReport = { arch, features, candidates, best: best.name };
  return cachedReport;
}

/** Resolves ZINC_KERNELS (or an explicit request) against what the CPU can run. */
export function chooseVariant(requested: string | undefined = process.env.ZINC_KERNELS): VariantName {
  const report = probeCpu();
  if (requested === undefined || requested === "" || requested === "auto") return report.best;
  if (!isVariantName(requested)) {
    throw new ZincError(`unknown kernel variant "${requested}"`, `ZINC_KERNELS takes one of ${variants.map((v) => v.name).join(", ")} (or auto)`);
  }
  const candidate = report.candidates.find((c) => c.name === requested);
  if (!candidate) {
    throw new ZincError(`kernel variant "${requested}" is not for this ${arch} CPU`, `use one of ${report.candidates.map((c) => c.name).join(", ")}`);
  }
  if (candidate.score === 0) {
    throw new ZincError(`this CPU cannot run kernel variant "${requested}": it lacks ${candidate.missing.join(", ")}`, `use ${report.best} or unset ZINC_KERNELS`);
  }
  return candidate.name;
}

/** ZINC_THREADS, else one thread per physical core. */
export function defaultThreadCount(): number {
  const fromEnv = process.env.ZINC_THREADS;
  if (fromEnv !== undefined && fromEnv !== "") return parseThreadCount(fromEnv, "ZINC_THREADS");
  return physicalCoreCount();
}

export function parseThreadCount(text: string, source: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new ZincError(`${source} must be a whole number from 1 to 1024, got "${text}"`);
  }
  return n;
}

export interface Kernels {
  variant: VariantName;
  threads: number;
  libraryPath: string;
  /** The raw symbol table, for the modules that own a native data structure (model, KV cache). */
  native: NativeSymbols;

  dotF32(a: Float32Array, b: Float32Array): number;
  dotF32Reference(a: Float32Array, b: Float32Array): number;
  /** x and y are packed Q8_0 blocks (34 bytes per 32 values). */
  vecDotQ8_0Q8_0(x: Uint8Array, y: Uint8Array): number;
  vecDotQ8_0Q8_0Reference(x: Uint8Array, y: Uint8Array): number;
  quantizeRowQ8_0(x: Float32Array): Uint8Array;
  dequantizeRowQ8_0(blocks: Uint8Array, n: number): Float32Array;
  /** y[rows] = W[rows × cols] · x[cols] on the thread pool. */
  matvecF32(weights: Float32Array, x: Float32Array, y: Float32Array): void;
  /** `scratch` must hold cols / 32 Q8_0 blocks. */
  matvecQ8_0(weights: Uint8Array, x: Float32Array, scratch: Uint8Array, y: Float32Array): void;
  close(): void;
}

export const q8_0BlockBytes = 34;
export const q8_0BlockValues = 32;

function check(condition: boolean, what: string): void {
  // A bad length here would make Zig read or write past a buffer: refuse before the pointer crosses.
  if (!condition) throw new ZincError(`kernel argument check failed: ${what}`);
}

function q8_0Blocks(values: number, what: string): number {
  check(values % q8_0BlockValues === 0, `${what}: ${values} values is not a multiple of ${q8_0BlockValues}`);
  return values / q8_0BlockValues;
}

const loaded = new Map<VariantName, Kernels>();

export function loadKernels(options: { variant?: string; threads?: number } = {}): Kernels {
  const variant = chooseVariant(options.variant ?? process.env.ZINC_KERNELS);
  const threads = options.threads ?? defaultThreadCount();
  parseThreadCount(String(threads), "threads");
  const existing = loaded.get(variant);
  if (existing) {
    setThreads(existing.native, threads);
    existing.threads = threads;
    return existing;
  }
  const library = openLibrary(variant);
  setThreads(library.symbols, threads);
  const kernels = bind(variant, threads, library);
  loaded.set(variant, kernels);
  return kernels;
}

function setThreads(native: NativeSymbols, threads: number): void {
  const status = native.zinc_pool_init(threads);
  if (status !== 0) throw new ZincError(`could not start ${threads} kernel threads (status ${status})`, "try fewer with --threads");
}

function bind(variant: VariantName, threads: number, library: NativeLibrary): Kernels {
  const n = library.symbols;
  return {
    variant,
    threads,
    libraryPath: library.path,
    native: n,
    dotF32(a, b) {
      check(a.length === b.length, `dotF32 lengths ${a.length} != ${b.length}`);
      return n.zinc_dot_f32(a, b, a.length);
    },
    dotF32Reference(a, b) {
      check(a.length === b.length, `dotF32Reference lengths ${a.length} != ${b.length}`);
      return n.zinc_dot_f32_reference(a, b, a.length);
    },
    vecDotQ8_0Q8_0(x, y) {
      check(x.length === y.length && x.length % q8_0BlockBytes === 0, "vecDotQ8_0Q8_0 needs equal whole Q8_0 blocks");
      return n.zinc_vec_dot_q8_0_q8_0(x, y, x.length / q8_0BlockBytes);
    },
    vecDotQ8_0Q8_0Reference(x, y) {
      check(x.length === y.length && x.length % q8_0BlockBytes === 0, "vecDotQ8_0Q8_0Reference needs equal whole Q8_0 blocks");
      return n.zinc_vec_dot_q8_0_q8_0_reference(x, y, x.length / q8_0BlockBytes);
    },
    quantizeRowQ8_0(x) {
      const out = new Uint8Array(q8_0Blocks(x.length, "quantizeRowQ8_0") * q8_0BlockBytes);
      n.zinc_quantize_row_q8_0(x, out, x.length);
      return out;
    },
    dequantizeRowQ8_0(blocks, values) {
      check(blocks.length === q8_0Blocks(values, "dequantizeRowQ8_0") * q8_0BlockBytes, "dequantizeRowQ8_0 block bytes");
      const out = new Float32Array(values);
      n.zinc_dequantize_row_q8_0(blocks, out, values);
      return out;
    },
    matvecF32(weights, x, y) {
      check(weights.length === x.length * y.length, `matvecF32 weights ${weights.length} != ${y.length} × ${x.length}`);
      n.zinc_matvec_f32(weights, x, y, y.length, x.length);
    },
    matvecQ8_0(weights, x, scratch, y) {
      const nb = q8_0Blocks(x.length, "matvecQ8_0");
      check(weights.length === nb * q8_0BlockBytes * y.length, "matvecQ8_0 weight bytes != rows × blocks × 34");
      check(scratch.length >= nb * q8_0BlockBytes, "matvecQ8_0 scratch too small");
      n.zinc_matvec_q8_0(weights, x, scratch, y, y.length, x.length);
    },
    close() {
      n.zinc_pool_deinit();
      library.close();
      loaded.delete(variant);
    },
  };
}
