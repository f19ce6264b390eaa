/**
 * CPU facts: the feature bits reported by the native probe (bit positions mirror zig/cpu.zig) and the number
 * of physical cores, the default thread count (SMT siblings share one core's SIMD units, so extra threads on
 * them only add contention to bandwidth-bound kernels).
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

export const featureBits = {
  sse3: 0,
  ssse3: 1,
  avx: 2,
  avx2: 3,
  fma: 4,
  f16c: 5,
  avx512f: 6,
  avx512bw: 7,
  avx512vl: 8,
  avx512dq: 9,
  avx512cd: 10,
  avx512vnni: 11,
  avx512bf16: 12,
  avx512vbmi: 13,
  avxvnni: 14,
  neon: 16,
  dotprod: 17,
  os_avx: 24,
  os_avx512: 25,
} as const;

export type Feature = keyof typeof featureBits;

export function decodeFeatures(mask: bigint): Set<Feature> {
  const present = new Set<Feature>();
  for (const [name, bit] of Object.entries(featureBits) as [Feature, number][]) {
    if ((mask >> BigInt(bit)) & 1n) present.add(name);
  }
  return present;
}

/** Physical cores this process may run on, from sysfs topology; logical CPUs when sysfs is unavailable. */
export function physicalCoreCount(): number {
  const logical = availableParallelism();
  try {
    const cores = new Set<string>();
    for (const entry of readdirSync("/sys/devices/system/cpu")) {
      if (!/^cpu\d+$/.test(entry)) continue;
      const topology = `/sys/devices/system/cpu/${entry}/topology`;
      const pkg = readFileSync(`${topology}/physical_package_id`, "utf8").trim();
      const core = readFileSync(`${topology}/core_id`, "utf8").trim();
      cores.add(`${pkg}:${core}`);
    }
    return Math.max(1, Math.min(cores.size || logical, logical));
  } catch {
    return logical;
  }
}
