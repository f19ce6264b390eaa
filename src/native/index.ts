/**
 * Kernel selection and the typed kernel interface. `loadKernels()` probes the CPU through the baseline
 * library (it runs on any x86-64 and its probe checks that the OS saves AVX/AVX-512 state), picks the best
 * variant this machine can run — or the one ZINC_KERNELS names — opens it and starts its thread pool.
 */
import { arch } from "node:process";
import { ZincError } from "../errors.ts";
import { decodeFeatures, physicalCoreCount, type Feature } from "./cpu.ts";
import { addressInside, nativeAddress, openLibrary, viewNativeMemory, type NativeBuffer, type NativeLibrary, type NativeSymbols } from "./ffi.ts";
import { rowBytes, tensorType, type TensorTypeInfo } from "../gguf/types.ts";
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

export type { NativeBuffer } from "./ffi.ts";
export { nativeAddress, viewNativeMemory } from "./ffi.ts";

export interface RopeParams {
  nRot: number;
  neox: boolean;
  freqBase: number;
  freqScale: number;
  extFactor: number;
  attnFactor: number;
  corrLow: number;
  corrHigh: number;
}

export interface AttentionParams {
  tokens: number;
  headCount: number;
  kvHeadCount: number;
  headDim: number;
  kvLength: number;
  window: number;
  scale: number;
  softcap: number;
  /** Storage of the cache rows. */
  kvType: "f16" | "q8_0";
  /** Rows of a ring-buffer cache (a sliding-window layer): position p is in row p % ringRows. 0: row p. */
  ringRows?: number;
  /**
   * llama.cpp's KV view for the call (n_kv: used cells rounded up to 256, see llamaKvCells); only where its
   * chunks fall depends on it. 0 or absent: kvLength.
   */
  kvCells?: number;
}

export const maxHeadDim = 512;

export interface Kernels {
  variant: VariantName;
  threads: number;
  libraryPath: string;
  /** The raw symbol table, for modules that own a native data structure. */
  native: NativeSymbols;

  dotF32(a: Float32Array, b: Float32Array): number;
  dotF32Reference(a: Float32Array, b: Float32Array): number;
  /** Reads every byte of `bytes` once across the kernel threads (a read-bandwidth probe); returns a checksum. */
  readChecksum(bytes: Uint8Array): bigint;
  /** The same checksum in scalar code on one thread. */
  readChecksumReference(bytes: Uint8Array): bigint;
  /** How many of the f32 bit patterns first, first + stride, … (count) the kernels' inline expf rounds unlike the C library's. */
  expfMismatches(first: number, count: number, stride: number): number;
  /** Dequantizes n values of `type` starting at `src` (a whole number of blocks) into `out`. */
  dequantizeRow(type: TensorTypeInfo, src: NativeBuffer, srcBytes: number, out: Float32Array): void;
  /** Quantizes rows × cols f32 values to `type` (an activation type or a simple weight type). */
  /** `outOffset`: where in `out` the rows go, in bytes (a KV cache row). */
  quantizeRows(type: TensorTypeInfo, x: Float32Array, rows: number, cols: number, out: Uint8Array, outOffset?: number): void;
  /** Quantizes weights with ggml's reference quantizers (what llama-quantize writes). */
  quantizeWeights(type: TensorTypeInfo, x: Float32Array, rows: number, cols: number, out: Uint8Array): void;
  /** y[t][r] = W[r] · x[t]; `xQuantized` holds `tokens` rows of the weight type's activation type. */
  /**
   * `oneTokenOrder`: sum each token exactly as a one-token product would. Otherwise a batch sums as llama.cpp's
   * batched path does, which for F16, BF16, IQ4_NL and IQ4_XS is another order than one token at a time.
   * `repackedOrder`: a Q4_0, Q4_K or IQ4_NL matrix of rows in multiples of 8 sums as llama.cpp's load-time
   * repacked kernels do (its default on AVX2; see repackedOrderFor), for one token or many.
   */
  matmul(type: TensorTypeInfo, weights: NativeBuffer, weightBytes: number, xQuantized: Uint8Array, y: Float32Array, rows: number, cols: number, tokens: number, oneTokenOrder?: boolean, repackedOrder?: boolean): void;
  vecDotReference(type: TensorTypeInfo, weights: NativeBuffer, xQuantized: Uint8Array, cols: number): number;

  rmsNorm(x: Float32Array, weight: Float32Array | null, out: Float32Array, rows: number, n: number, eps: number): void;
  layerNorm(x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, out: Float32Array, rows: number, n: number, eps: number): void;
  /** The cos/sin table of each token's position (params.nRot floats per token), for ropeApply. */
  ropeTable(tokens: number, positions: Int32Array, params: RopeParams, freqFactors: Float32Array | null, table: Float32Array): void;
  /** Rotates `tokens` rows of `heads` heads in place by a table from ropeTable with the same params. */
  ropeApply(x: Float32Array, tokens: number, heads: number, headDim: number, params: RopeParams, table: Float32Array): void;
  swiglu(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  geglu(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  gelu(x: Float32Array, out: Float32Array, n: number): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** x[r] += bias for `rows` rows of bias.length values. */
  addRows(x: Float32Array, bias: Float32Array, rows: number): void;
  mul(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  scale(x: Float32Array, s: number, n: number): void;
  softcap(x: Float32Array, cap: number, n: number): void;
  softmax(x: Float32Array, rows: number, n: number): void;
  f32ToF16(x: Float32Array, out: Uint16Array, n: number): void;
  /** kCache/vCache: rows of kvHeadCount × headDim values, f16 or q8_0 as params.kvType says. */
  attention(params: AttentionParams, q: Float32Array, positions: Int32Array, kCache: Uint8Array, vCache: Uint8Array, out: Float32Array): void;
  close(): void;
}

// A bad length here would make Zig read or write past a buffer: refuse before the pointer crosses. A message
// built from values is built only when the check fails (`if (!ok) argumentError(\`…\`)`): as an argument to
// check() a template string was built on every call — 14 strings a matmul, thousands a token, for the GC.
function check(condition: boolean, what: string): void {
  if (!condition) argumentError(what);
}

function argumentError(what: string): never {
  throw new ZincError(`kernel argument check failed: ${what}`);
}

function fits(buffer: NativeBuffer, bytes: number): boolean {
  return typeof buffer === "number" ? buffer !== 0 : (buffer as ArrayBufferView).byteLength >= bytes;
}

function wholeBlocks(type: TensorTypeInfo, values: number, what: string): void {
  if (!(Number.isInteger(values) && values >= 0 && values % type.blockValues === 0)) argumentError(`${what}: ${values} values is not a whole number of ${type.name} blocks (${type.blockValues})`);
}

const loaded = new Map<VariantName, Kernels>();

export function loadKernels(options: { variant?: string; threads?: number } = {}): Kernels {
  const variant = chooseVariant(options.variant ?? process.env.ZINC_KERNELS);
  const threads = options.threads ?? defaultThreadCount();
  parseThreadCount(String(threads), "threads");
  const existing = loaded.get(variant);
  if (existing) {
    // Without an explicit count (e.g. mapping a file), keep the pool as the caller before us sized it.
    if (options.threads !== undefined && options.threads !== existing.threads) {
      setThreads(existing.native, threads);
      existing.threads = threads;
    }
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

/** `kernel` names the call in the error (with the tensor type's name after it, when given). */
function statusCheck(status: number, kernel: string, type?: TensorTypeInfo): void {
  if (status === 0) return;
  const what = type ? `${kernel} ${type.name}` : kernel;
  if (status === 4) throw new ZincError(`${what}: tensor type not supported by the kernels`);
  throw new ZincError(`${what}: kernel returned status ${status}`);
}

function bind(variant: VariantName, threads: number, library: NativeLibrary): Kernels {
  const n = library.symbols;
  const ropeBuffer = new ArrayBuffer(32);
  const ropeU32 = new Uint32Array(ropeBuffer);
  const ropeF32 = new Float32Array(ropeBuffer);
  const setRopeParams = (p: RopeParams): Uint32Array => {
    ropeU32[0] = p.nRot;
    ropeU32[1] = p.neox ? 2 : 0;
    ropeF32[2] = p.freqBase;
    ropeF32[3] = p.freqScale;
    ropeF32[4] = p.extFactor;
    ropeF32[5] = p.attnFactor;
    ropeF32[6] = p.corrLow;
    ropeF32[7] = p.corrHigh;
    return ropeU32;
  };
  const attentionBuffer = new ArrayBuffer(44);
  const attentionU32 = new Uint32Array(attentionBuffer);
  const attentionF32 = new Float32Array(attentionBuffer);
  const dotOut = new Float32Array(1);
  return {
    variant,
    threads,
    libraryPath: library.path,
    native: n,
    dotF32(a, b) {
      if (a.length !== b.length) argumentError(`dotF32 lengths ${a.length} != ${b.length}`);
      return n.zinc_dot_f32(a, b, a.length);
    },
    dotF32Reference(a, b) {
      if (a.length !== b.length) argumentError(`dotF32Reference lengths ${a.length} != ${b.length}`);
      return n.zinc_dot_f32_reference(a, b, a.length);
    },
    readChecksum(bytes) {
      return BigInt(n.zinc_read_checksum(bytes, bytes.byteLength));
    },
    readChecksumReference(bytes) {
      return BigInt(n.zinc_read_checksum_reference(bytes, bytes.byteLength));
    },
    expfMismatches(first, count, stride) {
      return Number(n.zinc_expf_mismatches(first, count, stride));
    },
    dequantizeRow(type, src, srcBytes, out) {
      wholeBlocks(type, out.length, "dequantizeRow");
      check(srcBytes >= rowBytes(type, out.length) && fits(src, rowBytes(type, out.length)), "dequantizeRow source too small");
      statusCheck(n.zinc_dequantize_row(type.id, src, out, out.length), "dequantize", type);
    },
    quantizeRows(type, x, rows, cols, out, outOffset = 0) {
      wholeBlocks(type, cols, "quantizeRows");
      check(x.length >= rows * cols, "quantizeRows input too small");
      check(Number.isInteger(outOffset) && outOffset >= 0 && out.byteLength >= outOffset + rows * rowBytes(type, cols), "quantizeRows output too small");
      statusCheck(n.zinc_quantize_rows(type.id, x, outOffset === 0 ? out : addressInside(out, outOffset), rows, cols), "quantize to", type);
    },
    quantizeWeights(type, x, rows, cols, out) {
      wholeBlocks(type, cols, "quantizeWeights");
      check(x.length >= rows * cols, "quantizeWeights input too small");
      check(out.byteLength >= rows * rowBytes(type, cols), "quantizeWeights output too small");
      statusCheck(n.zinc_quantize_weights(type.id, x, out, rows, cols), "quantize weights to", type);
    },
    matmul(type, weights, weightBytes, xQuantized, y, rows, cols, tokens, oneTokenOrder = false, repackedOrder = false) {
      if (type.activation === undefined) argumentError(`matmul: no kernel for ${type.name} weights`);
      const act = tensorType(type.activation!);
      wholeBlocks(type, cols, "matmul weights");
      wholeBlocks(act, cols, "matmul activations");
      if (!(weightBytes >= rows * rowBytes(type, cols) && fits(weights, rows * rowBytes(type, cols)))) argumentError(`matmul weights: ${weightBytes} bytes < ${rows} rows of ${cols} ${type.name}`);
      check(xQuantized.byteLength >= tokens * rowBytes(act, cols), "matmul activations too small");
      check(y.length >= tokens * rows, "matmul output too small");
      statusCheck(n.zinc_matmul(type.id, weights, xQuantized, y, rows, cols, tokens, (oneTokenOrder ? 1 : 0) | (repackedOrder ? 2 : 0)), "matmul", type);
    },
    vecDotReference(type, weights, xQuantized, cols) {
      if (type.activation === undefined) argumentError(`vecDotReference: no kernel for ${type.name}`);
      wholeBlocks(type, cols, "vecDotReference");
      check(fits(weights, rowBytes(type, cols)) && xQuantized.byteLength >= rowBytes(tensorType(type.activation!), cols), "vecDotReference sizes");
      statusCheck(n.zinc_vec_dot_reference(type.id, weights, xQuantized, cols, dotOut), "vecDotReference", type);
      return dotOut[0];
    },
    rmsNorm(x, weight, out, rows, dim, eps) {
      check(x.length >= rows * dim && out.length >= rows * dim && (weight === null || weight.length >= dim), "rmsNorm sizes");
      n.zinc_rms_norm(x, weight, out, rows, dim, eps);
    },
    layerNorm(x, weight, bias, out, rows, dim, eps) {
      check(x.length >= rows * dim && out.length >= rows * dim && (weight === null || weight.length >= dim) && (bias === null || bias.length >= dim), "layerNorm sizes");
      n.zinc_layer_norm(x, weight, bias, out, rows, dim, eps);
    },
    ropeTable(tokens, positions, p, freqFactors, table) {
      if (!(p.nRot % 2 === 0 && p.nRot <= maxHeadDim)) argumentError(`rope: n_rot ${p.nRot}`);
      check(positions.length >= tokens && table.length >= tokens * p.nRot, "ropeTable sizes");
      check(freqFactors === null || freqFactors.length >= p.nRot / 2, "rope frequency factors too short");
      statusCheck(n.zinc_rope_table(tokens, positions, setRopeParams(p), freqFactors, table), "rope table");
    },
    ropeApply(x, tokens, heads, headDim, p, table) {
      check(x.length >= tokens * heads * headDim && table.length >= tokens * p.nRot, "rope sizes");
      if (!(p.nRot % 2 === 0 && p.nRot <= headDim && headDim <= maxHeadDim)) argumentError(`rope: n_rot ${p.nRot} / head_dim ${headDim}`);
      statusCheck(n.zinc_rope_apply(x, tokens, heads, headDim, setRopeParams(p), table), "rope");
    },
    swiglu(gate, up, out, count) {
      check(gate.length >= count && up.length >= count && out.length >= count, "swiglu sizes");
      n.zinc_swiglu(gate, up, out, count);
    },
    geglu(gate, up, out, count) {
      check(gate.length >= count && up.length >= count && out.length >= count, "geglu sizes");
      n.zinc_geglu(gate, up, out, count);
    },
    gelu(x, out, count) {
      check(x.length >= count && out.length >= count, "gelu sizes");
      n.zinc_gelu(x, out, count);
    },
    add(a, b, out, count) {
      check(a.length >= count && b.length >= count && out.length >= count, "add sizes");
      n.zinc_add(a, b, out, count);
    },
    addRows(x, bias, rows) {
      check(x.length >= rows * bias.length, "addRows sizes");
      n.zinc_add_rows(x, bias, rows, bias.length);
    },
    mul(a, b, out, count) {
      check(a.length >= count && b.length >= count && out.length >= count, "mul sizes");
      n.zinc_mul(a, b, out, count);
    },
    scale(x, s, count) {
      check(x.length >= count, "scale size");
      n.zinc_scale(x, s, count);
    },
    softcap(x, cap, count) {
      check(x.length >= count, "softcap size");
      n.zinc_softcap(x, cap, count);
    },
    softmax(x, rows, dim) {
      check(x.length >= rows * dim, "softmax size");
      n.zinc_softmax(x, rows, dim);
    },
    f32ToF16(x, out, count) {
      check(x.length >= count && out.length >= count, "f32ToF16 sizes");
      n.zinc_f32_to_f16(x, out, count);
    },
    attention(p, q, positions, kCache, vCache, out) {
      check(p.headDim > 0 && p.headDim <= maxHeadDim && p.kvHeadCount > 0 && p.headCount % p.kvHeadCount === 0, "attention head shape");
      const width = p.headCount * p.headDim;
      const kvRow = p.kvHeadCount * p.headDim;
      check(q.length >= p.tokens * width && out.length >= p.tokens * width && positions.length >= p.tokens, "attention q/out sizes");
      const rowBytes = p.kvType === "q8_0" ? (kvRow / 32) * 34 : kvRow * 2;
      if (p.kvType === "q8_0" && p.headDim % 32 !== 0) argumentError(`a q8_0 KV cache needs head_dim divisible by 32 (it is ${p.headDim})`);
      const ring = p.ringRows ?? 0;
      // A ring must hold every key a query can see: the window of the first query up to the last query.
      check(ring === 0 || (p.window > 0 && ring >= p.window - 1 + p.tokens), "attention ring smaller than window + batch");
      const rows = ring === 0 ? p.kvLength : Math.min(ring, p.kvLength);
      check(kCache.byteLength >= rows * rowBytes && vCache.byteLength >= rows * rowBytes, "attention cache smaller than kv length");
      for (let t = 0; t < p.tokens; t++) check(positions[t] >= 0 && positions[t] < p.kvLength, "attention query position outside the cache");
      const cells = p.kvCells ?? 0;
      check(cells === 0 || cells >= p.kvLength, "attention KV view shorter than the keys");
      attentionU32[0] = p.tokens;
      attentionU32[1] = p.headCount;
      attentionU32[2] = p.kvHeadCount;
      attentionU32[3] = p.headDim;
      attentionU32[4] = p.kvLength;
      attentionU32[5] = p.window;
      attentionF32[6] = p.scale;
      attentionF32[7] = p.softcap;
      attentionU32[8] = p.kvType === "q8_0" ? 1 : 0;
      attentionU32[9] = ring;
      attentionU32[10] = cells;
      statusCheck(n.zinc_attention(attentionU32, q, positions, kCache, vCache, out), "attention");
    },
    close() {
      n.zinc_pool_deinit();
      library.close();
      loaded.delete(variant);
    },
  };
}

// ---- file mapping -----------------------------------------------------------------------------------------------

export interface FileMapping {
  address: number;
  size: number;
  /**
   * The mapping's first min(size, 4 GiB) bytes: a view, not a copy, valid until unmap(). A JavaScript typed
   * array cannot be longer than 4 GiB, and a 7B model's file is; reach further with viewNativeMemory.
   */
  bytes: Uint8Array;
  unmap(): void;
}

/** The longest typed array Bun allows over native memory (toArrayBuffer refuses longer ones). */
export const maxNativeView = 2 ** 32;

const errnoText: Record<number, string> = { 2: "no such file", 13: "permission denied", 21: "is a directory", 22: "empty file", 12: "out of memory", 24: "too many open files" };

/** Maps a whole file read-only through the kernel library (which also advises and measures residency). */
export function mapFile(path: string): FileMapping {
  const native = loadKernels().native;
  const size = new BigUint64Array(1);
  const errno = new Int32Array(1);
  const address = Number(native.zinc_map_file(Buffer.from(`${path}\0`), size, errno));
  if (address === 0) {
    const why = errnoText[errno[0]] ?? `errno ${errno[0]}`;
    throw new ZincError(`cannot open ${path}: ${why}`, errno[0] === 2 ? "check the path, or use a model alias (zinc models)" : undefined);
  }
  const length = Number(size[0]);
  let mapped = true;
  return {
    address,
    size: length,
    bytes: viewNativeMemory(address, Math.min(length, maxNativeView)),
    unmap() {
      if (!mapped) return;
      mapped = false;
      native.zinc_unmap(nativeAddress(address), length);
    },
  };
}

export const madvice = { normal: 0, random: 1, sequential: 2, willNeed: 3, dontNeed: 4, hugePage: 14, pageOut: 21, populateRead: 22 } as const;

export function adviseMemory(address: number, size: number, advice: number): number {
  return loadKernels().native.zinc_madvise(nativeAddress(address), size, advice);
}

/** Drops a file range's unmapped pages from the page cache (posix_fadvise DONTNEED; length 0: to the end). */
export function dropFileCache(path: string, offset = 0, length = 0): number {
  return loadKernels().native.zinc_drop_file_cache(Buffer.from(`${path}\0`), offset, length);
}

export function residentBytes(address: number, size: number): number {
  return Number(loadKernels().native.zinc_resident_bytes(nativeAddress(address), size));
}
