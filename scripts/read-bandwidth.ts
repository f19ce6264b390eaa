#!/usr/bin/env bun
/**
 * How fast this machine reads a model file from memory right now: the file mapped as zinc maps weights (2 MiB
 * pages where the kernel gives them), then read front to back by the kernel threads with nothing computed — the
 * pace no decoder of that file can beat, since a generated token reads (nearly) all of it.
 *
 *   bun scripts/read-bandwidth.ts MODEL.gguf [-t 2] [--passes 3] [--json]
 *
 * The file must fit in memory (it is read from the page cache, not the disk: the first pass brings it in and
 * is not timed). Files past 4 GiB are timed over their first 4 GiB. compare-llama-cpp.ts runs this in every
 * round, so that its ratios come with the ceiling the memory set at that moment.
 */
import { mapWeightsInHugePages } from "../src/model/huge-pages.ts";
import { chooseVariant, loadKernels, mapFile, parseThreadCount } from "../src/native/index.ts";

const args = process.argv.slice(2);
const flag = (names: string[], fallback?: string) => {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : fallback;
};

function fail(message: string): never {
  console.error(`read-bandwidth: ${message}`);
  process.exit(1);
}

const valueFlags = new Set(["-t", "--threads", "--passes"]);
const path = args.find((a, i) => !a.startsWith("-") && !valueFlags.has(args[i - 1]));
if (!path) fail("usage: bun scripts/read-bandwidth.ts MODEL.gguf [-t 2] [--passes 3] [--json]");
const passes = Number(flag(["--passes"], "3"));
if (!Number.isInteger(passes) || passes < 1 || passes > 100) fail(`--passes ${flag(["--passes"])}: give a whole number from 1 to 100`);

try {
  const threads = parseThreadCount(flag(["-t", "--threads"], "2")!, "--threads");
  const kernels = loadKernels({ variant: chooseVariant(), threads });
  const file = mapFile(path);
  try {
    const huge = mapWeightsInHugePages({ path, address: file.address, fileSize: file.size });
    const bytes = file.bytes;
    kernels.readChecksum(bytes); // brings the file into the cache and the mapping
    const seconds: number[] = [];
    for (let i = 0; i < passes; i++) {
      const t0 = performance.now();
      kernels.readChecksum(bytes);
      seconds.push((performance.now() - t0) / 1000);
    }
    const best = Math.min(...seconds);
    const result = {
      read_gb_s: Math.round((bytes.byteLength / best / 1e9) * 10) / 10,
      bytes: bytes.byteLength,
      threads,
      variant: kernels.variant,
      passes,
      huge_page_share: huge.hugeShareAfter ?? huge.hugeShareBefore,
    };
    if (args.includes("--json")) console.log(JSON.stringify(result));
    else console.log(`${path}: read at ${result.read_gb_s} GB/s (best of ${passes} passes over ${(bytes.byteLength / 2 ** 20).toFixed(1)} MiB, ${threads} threads, ${kernels.variant})`);
  } finally {
    file.unmap();
  }
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
