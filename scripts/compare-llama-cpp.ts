#!/usr/bin/env bun
/**
 * zinc against llama.cpp on the same file, same threads, alternating runs; prints tok/s and the ratios.
 *
 *   bun scripts/compare-llama-cpp.ts --llama-bench PATH/llama-bench -m MODEL.gguf [-p 512] [-n 128] [-t 2] [--rounds 3]
 *
 * llama-bench comes from llama.cpp (for instance node-llama-cpp's bundled source built beside the repo:
 * see tests/fixtures/reference/README.md). Each round runs `llama-bench -r 1` then `zinc bench -r 1`; the
 * medians over rounds are compared, so both see the same machine state as far as a shared machine allows.
 */
import { join } from "node:path";

const args = process.argv.slice(2);
const flag = (names: string[], fallback?: string) => {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : fallback;
};
const llamaBench = flag(["--llama-bench"], process.env.LLAMA_BENCH);
const model = flag(["-m", "--model"]);
const p = flag(["-p"], "512")!;
const n = flag(["-n"], "128")!;
const threads = flag(["-t", "--threads"], "2")!;
const rounds = Number(flag(["--rounds"], "3"));
if (!llamaBench || !model) {
  console.error("usage: bun scripts/compare-llama-cpp.ts --llama-bench PATH -m MODEL.gguf [-p 512] [-n 128] [-t 2] [--rounds 3]");
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const zincCli = join(import.meta.dir, "..", "src", "cli", "main.ts");
const results = { llama: { pp: [] as number[], tg: [] as number[] }, zinc: { pp: [] as number[], tg: [] as number[] } };

for (let round = 0; round < rounds; round++) {
  const llama = Bun.spawnSync([llamaBench, "-m", model, "-t", threads, "-p", p, "-n", n, "-r", "1", "-o", "json"], { stderr: "ignore" });
  if (llama.exitCode !== 0) throw new Error(`llama-bench failed (exit ${llama.exitCode})`);
  for (const test of JSON.parse(llama.stdout.toString())) {
    if (test.n_prompt > 0 && test.n_gen === 0) results.llama.pp.push(test.avg_ts);
    if (test.n_gen > 0 && test.n_prompt === 0) results.llama.tg.push(test.avg_ts);
  }
  const zinc = Bun.spawnSync([process.execPath, zincCli, "--threads", threads, "bench", "-m", model, "-p", p, "-n", n, "-r", "1", "--json"], { stderr: "inherit" });
  if (zinc.exitCode !== 0) throw new Error(`zinc bench failed (exit ${zinc.exitCode})`);
  const z = JSON.parse(zinc.stdout.toString());
  results.zinc.pp.push(z.pp_tok_s);
  results.zinc.tg.push(z.tg_tok_s);
  process.stderr.write(`round ${round + 1}/${rounds}: llama.cpp pp ${results.llama.pp.at(-1)?.toFixed(1)} tg ${results.llama.tg.at(-1)?.toFixed(1)} · zinc (${z.variant}) pp ${z.pp_tok_s} tg ${z.tg_tok_s}\n`);
}

const row = (test: "pp" | "tg", size: string) => {
  const l = median(results.llama[test]);
  const z = median(results.zinc[test]);
  return { test: `${test}${size}`, llama_cpp_tok_s: Math.round(l * 100) / 100, zinc_tok_s: Math.round(z * 100) / 100, ratio: Math.round((z / l) * 100) / 100 };
};
const rows = [row("pp", p), row("tg", n)];
console.log(`model ${model.split("/").pop()} · threads ${threads} · ${rounds} alternating rounds, medians`);
console.log("| test | llama.cpp tok/s | zinc tok/s | zinc / llama.cpp |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.test} | ${r.llama_cpp_tok_s} | ${r.zinc_tok_s} | ${r.ratio}× |`);
