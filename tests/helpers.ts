/** Shared test utilities: deterministic random data, error metrics, and running the real CLI. */
import { join } from "node:path";

export const repoRoot = join(import.meta.dir, "..");
export const sharedDir = join(repoRoot, "..", "shared");

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
  for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  const proc = Bun.spawnSync([process.execPath, join(repoRoot, "src", "cli", "main.ts"), ...args], {
    env,
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}
