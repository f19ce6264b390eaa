/**
 * The kernel library variants (mirrors the table in build.zig) and how one is chosen. As in ggml's backend
 * scoring, a variant needing any feature the CPU (or the OS, for AVX/AVX-512 register state) lacks scores 0;
 * otherwise the variant with the most capable feature set wins.
 */
import type { Feature } from "./cpu.ts";

export type VariantName = "baseline" | "avx2" | "avx512" | "neon";

export interface Variant {
  name: VariantName;
  arch: "x64" | "arm64";
  /** Every feature the library was compiled to use; all must be present to run it. */
  needs: Feature[];
  /** Higher wins among runnable variants. */
  rank: number;
}

export const variants: Variant[] = [
  { name: "baseline", arch: "x64", needs: [], rank: 1 },
  { name: "avx2", arch: "x64", needs: ["avx", "avx2", "fma", "f16c", "os_avx"], rank: 2 },
  {
    name: "avx512",
    arch: "x64",
    needs: ["avx", "avx2", "fma", "f16c", "os_avx", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512vnni", "os_avx512"],
    rank: 3,
  },
  { name: "neon", arch: "arm64", needs: ["neon", "dotprod"], rank: 1 },
];

export function isVariantName(name: string): name is VariantName {
  return variants.some((v) => v.name === name);
}

/** 0 when the variant cannot run here; otherwise its rank. */
export function scoreVariant(variant: Variant, arch: string, features: Set<Feature>): number {
  if (variant.arch !== arch) return 0;
  return variant.needs.every((f) => features.has(f)) ? variant.rank : 0;
}

export function missingFeatures(variant: Variant, features: Set<Feature>): Feature[] {
  return variant.needs.filter((f) => !features.has(f));
}
