#!/usr/bin/env bun
/**
 * zinc against llama.cpp on the same file, same threads, alternating runs; prints tok/s and the ratios.
 *
 *   bun scripts/compare-llama-cpp.ts --llama-bench PATH/llama-bench -m MODEL.gguf [-p 512] [-n 128] [-d 0] [-t 2] [--rounds 3]
 *
 * -d measures both after a prefill of that many tokens (llama-bench's -d, zinc bench's --depth): a long chat's
 * speed, where attention over the KV cache adds to the weights' read.
 *
 * llama-bench comes from llama.cpp (for instance node-llama-cpp's bundled source built beside the repo:
 * see tests/fixtures/reference/README.md). Each round runs `llama-bench -r 1` then `zinc bench -r 1`; the
 * medians over rounds are compared, so both see the same machine state as far as a shared machine allows.
 *
 * Generation also reports each engine's GB/s of weights (tok/s × the bytes a token reads): decode is bound by
 * memory, so this says how near each engine runs to the machine's read bandwidth, and how much room a ratio has.
 * Each round also times a plain read of the file (scripts/read-bandwidth.ts, same threads): the pace no decoder
 * can pass at that moment. Divided by llama.cpp's GB/s in the same round, it is the highest ratio the memory
 * allowed; the median of those is printed beside the ratio. On a shared machine whose bandwidth swings, this
 * tells a ratio the memory capped from one zinc could still raise.
 */
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";

const args = process.argv.slice(2);
const flag = (names: string[], fallback?: string) => {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : fallback;
};
const llamaBench = flag(["--llama-bench"], process.env.LLAMA_BENCH);
const model = flag(["-m", "--model"]);
const p = flag(["-p"], "512")!;
const n = flag(["-n"], "128")!;
const depth = flag(["-d", "--depth"], "0")!;
const threads = flag(["-t", "--threads"], "2")!;
const rounds = Number(flag(["--rounds"], "3"));
if (!llamaBench || !model) {
  console.error("usage: bun scripts/compare-llama-cpp.ts --llama-bench PATH -m MODEL.gguf [-p 512] [-n 128] [-d 0] [-t 2] [--rounds 3]");
  process.exit(2);
}

/** Stops with one line on stderr, as the CLI does (no stack trace for a bad file or a failing run). */
function fail(message: string): never {
  console.error(`compare-llama-cpp: ${message}`);
  process.exit(1);
}

/** Bytes of weights a generated token reads: every tensor, except that a token embedding which is not also the
 * output (an output.weight of its own) is read one row per token, so it is left out. */
function weightBytesPerToken(path: string): number {
  const file = openGguf(path);
  try {
    const ownOutput = file.tensors.some((t) => t.name === "output.weight");
    return file.tensors.reduce((n, t) => n + (ownOutput && t.name === "token_embd.weight" ? 0 : t.byteSize), 0);
  } finally {
    file.close();
  }
}
let bytesPerToken = 0;
try {
  bytesPerToken = weightBytesPerToken(model);
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const zincCli = join(import.meta.dir, "..", "src", "cli", "main.ts");
const readBandwidth = join(import.meta.dir, "read-bandwidth.ts");
const results = { llama: { pp: [] as number[], tg: [] as number[] }, zinc: { pp: [] as number[], tg: [] as number[] }, read: [] as number[], allowed: [] as number[] };

for (let round = 0; round < rounds; round++) {
  const atDepth = Number(depth) > 0 ? ["-d", depth] : [];
  const llama = Bun.spawnSync([llamaBench, "-m", model, "-t", threads, "-p", p, "-n", n, ...atDepth, "-r", "1", "-o", "json"], { stderr: "ignore" });
  if (llama.exitCode !== 0) fail(`llama-bench failed (exit ${llama.exitCode}): run it alone to see why`);
  for (const test of JSON.parse(llama.stdout.toString())) {
    if (test.n_prompt > 0 && test.n_gen === 0) results.llama.pp.push(test.avg_ts);
    if (test.n_gen > 0 && test.n_prompt === 0) results.llama.tg.push(test.avg_ts);
  }
  const zinc = Bun.spawnSync([process.execPath, zincCli, "--threads", threads, "bench", "-m", model, "-p", p, "-n", n, "--depth", depth, "-r", "1", "--json"], { stderr: "inherit" });
  if (zinc.exitCode !== 0) fail(`zinc bench failed (exit ${zinc.exitCode})`);
  const z = JSON.parse(zinc.stdout.toString());
  results.zinc.pp.push(z.pp_tok_s);
  results.zinc.tg.push(z.tg_tok_s);
  const read = Bun.spawnSync([process.execPath, readBandwidth, model, "-t", threads, "--passes", "2", "--json"], { stderr: "inherit" });
  if (read.exitCode !== 0) fail(`reading the file for its bandwidth failed (exit ${read.exitCode})`);
  const readGbS: number = JSON.parse(read.stdout.toString()).read_gb_s;
  results.read.push(readGbS);
  const llamaTg = results.llama.tg.at(-1);
  // At a depth a token reads the KV cache too, so the weights' bytes no longer bound the ratio: no column then.
  if (llamaTg !== undefined && bytesPerToken > 0 && Number(depth) === 0) results.allowed.push(readGbS / ((llamaTg * bytesPerToken) / 1e9));
  // Only the tests this run has (-p 0 or -n 0 skips one).
  const tests = (pp: number | null | undefined, tg: number | null | undefined) =>
    [pp == null ? "" : `pp ${pp.toFixed(1)}`, tg == null ? "" : `tg ${tg.toFixed(1)}`].filter(Boolean).join(" ");
  process.stderr.write(`round ${round + 1}/${rounds}: llama.cpp ${tests(results.llama.pp.at(-1), llamaTg)} · zinc (${z.variant}) ${tests(z.pp_tok_s, z.tg_tok_s)} · file read at ${readGbS} GB/s\n`);
}

const row = (test: "pp" | "tg", size: string) => {
  const l = median(results.llama[test]);
  const z = median(results.zinc[test]);
  const gbs = (tokS: number) => (test === "tg" ? `${((tokS * bytesPerToken) / 1e9).toFixed(1)}` : "");
  const allowed = test === "tg" && results.allowed.length > 0 ? `${median(results.allowed).toFixed(2)}×` : "";
  return { test: `${test}${size}${Number(depth) > 0 ? ` @ d${depth}` : ""}`, llama_cpp_tok_s: Math.round(l * 100) / 100, zinc_tok_s: Math.round(z * 100) / 100, ratio: Math.round((z / l) * 100) / 100, llama_cpp_gb_s: gbs(l), zinc_gb_s: gbs(z), allowed };
};
const rows = [Number(p) > 0 ? row("pp", p) : null, Number(n) > 0 ? row("tg", n) : null].filter((r) => r !== null);
console.log(`model ${model.split("/").pop()} · threads ${threads} · ${rounds} alternating rounds, medians · a generated token reads ${(bytesPerToken / 2 ** 20).toFixed(1)} MiB of weights · the file read at ${median(results.read)} GB/s`);
console.log("| test | llama.cpp tok/s | zinc tok/s | zinc / llama.cpp | llama.cpp GB/s of weights | zinc GB/s of weights | highest ratio the memory allowed |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.test} | ${r.llama_cpp_tok_s} | ${r.zinc_tok_s} | ${r.ratio}× | ${r.llama_cpp_gb_s} | ${r.zinc_gb_s} | ${r.allowed} |`);
