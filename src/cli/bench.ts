/**
 * `zinc bench`: whole-model throughput in the manner of llama-bench. Prompt processing (pp: one batch of
 * -p tokens from an empty context) and text generation (tg: -n single-token steps from an empty context),
 * each repeated -r times; mean ± sd, plus time to first token, load time, peak RSS, variant and threads.
 *
 * With --draft, a third test: greedy generation of -n tokens from a real prompt (drafts only pay on text a
 * draft can predict, not on llama-bench's random tokens), without and with speculative decoding, reporting
 * both speeds, the speedup and the draft acceptance rate.
 */
import type { Command } from "commander";
import { ZincError } from "../errors.ts";
import { openLoadedModel } from "../index.ts";
import { locateModel } from "../registry/registry.ts";
import { pullModel } from "../registry/pull.ts";
import type { LoadedModel } from "../index.ts";
import { hugePageShare } from "../model/huge-pages.ts";
import { bytesReadFromStorage } from "../model/streaming.ts";
import { appendResult, describeRun, resultsPath } from "../report/results.ts";
import { openDraft, parseFloatOption, parseInteger, parseKvType, parseSize, peakRssMb } from "./common.ts";

interface BenchFlags {
  model?: string;
  p: string;
  n: string;
  depth: string;
  r: string;
  kernels?: string;
  kvType?: string;
  json?: boolean;
  draft?: string;
  memBudget?: string;
  results?: string;
  record: boolean;
  hugePages: boolean;
  draftMax: string;
  draftPMin: string;
  prompt: string;
}

/** The --draft test: plain greedy and speculative greedy generation of n tokens from `prompt`, `reps` times. */
function benchDraft(model: LoadedModel, draft: LoadedModel | "lookup", prompt: string, n: number, reps: number, draftMax: number, draftPMin: number) {
  const ids = model.tokenize(prompt);
  const plain: number[] = [];
  const speculative: number[] = [];
  let drafted = 0;
  let accepted = 0;
  const time = (options: Parameters<LoadedModel["session"]["generate"]>[1]) => {
    model.session.reset();
    if (draft !== "lookup") draft.session.reset();
    const run = model.session.generate(ids, { temperature: 0, maxTokens: n, stopAtEog: false, ...options });
    for (let r = run.next(); ; r = run.next()) if (r.done) return r.value;
  };
  for (let r = 0; r <= reps; r++) {
    const a = time({});
    const b = time({ draft: draft === "lookup" ? "lookup" : draft.session, draftMax, draftPMin });
    if (r === 0) continue;
    plain.push((a.generatedTokens / a.decodeMs) * 1000);
    speculative.push((b.generatedTokens / b.decodeMs) * 1000);
    drafted += b.drafted;
    accepted += b.accepted;
  }
  const p = meanSd(plain);
  const s = meanSd(speculative);
  return { plain: p, speculative: s, speedup: s.mean / p.mean, acceptance: drafted ? accepted / drafted : 0, drafted: drafted / reps };
}

function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd };
}

const round = (x: number) => Math.round(x * 100) / 100;

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("measure prompt processing and generation speed (like llama-bench)")
    .option("-m, --model <alias|path>", "model alias or GGUF path", "smollm2-135m")
    .option("-p, --p <tokens>", "prompt tokens for the pp test (0 to skip)", "512")
    .option("-n, --n <tokens>", "generated tokens for the tg test (0 to skip)", "128")
    .option("-d, --depth <tokens>", "measure after a prefill of this many tokens, as llama-bench's -d (a long chat's speed); such runs are not added to the results file, whose figures start from an empty context", "0")
    .option("-r, --r <count>", "repetitions", "5")
    .option("--kernels <list>", "comma-separated kernel variants to run (default: the auto choice)")
    .option("--kv-type <type>", "KV cache storage: f16 or q8_0", "f16")
    .option("--no-huge-pages", "use the weights as the page cache holds them, without re-reading a cached file into 2 MiB pages")
    .option("--json", "print JSON (an object, or a list when several variants run)")
    .option("--mem-budget <size>", "memory budget: a model that does not fit it streams its weights (see inspect)")
    .option("--results <file>", "append the results here (default: ZINC_RESULTS or ~/.cache/zinc/results.jsonl)")
    .option("--no-record", "do not append the results to the results file")
    .option("--draft <alias|path|lookup>", "also measure speculative greedy generation with this draft")
    .option("--draft-max <n>", "most tokens drafted per step", "8")
    .option("--draft-p-min <p>", "a draft model stops when its top probability is below this", "0.6")
    .option("--prompt <text>", "prompt for the --draft test", "Write a Python function that returns the n-th Fibonacci number, with a docstring and a few tests.\n\ndef fibonacci(n):")
    .action(async (flags: BenchFlags) => {
      const p = parseInteger(flags.p, "-p", 0, 1 << 16);
      const n = parseInteger(flags.n, "-n", 0, 1 << 16);
      const reps = parseInteger(flags.r, "-r", 1, 1000);
      const depth = parseInteger(flags.depth, "--depth", 0, 1 << 20);
      if (p === 0 && n === 0) throw new ZincError("nothing to measure: -p and -n are both 0");
      const location = locateModel(flags.model!);
      const path = location.kind === "alias" && !location.downloaded ? await pullModel(location.entry) : location.path;
      const variants = flags.kernels ? flags.kernels.split(",").map((s) => s.trim()) : [process.env.ZINC_KERNELS || "auto"];
      const results = [];
      for (const variant of variants) {
        if (variant !== "auto") process.env.ZINC_KERNELS = variant;
        const t0 = performance.now();
        const memoryBudget = flags.memBudget ? parseSize(flags.memBudget, "--mem-budget") : undefined;
        const model = openLoadedModel(path, { contextLength: Math.max(256, depth + Math.max(p, n) + 1), batchSize: Math.min(512, Math.max(1, p)), kvType: parseKvType(flags.kvType), memoryBudget, hugePages: flags.hugePages });
        const loadMs = performance.now() - t0;
        const m = model.model;
        const vocab = m.config.vocabSize;
        // Random (seeded) token ids, as llama-bench uses: speed depends on shapes, not on the text.
        let seed = 12345;
        const randomToken = () => {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          return seed % vocab;
        };
        const prompt = Array.from({ length: p }, randomToken);
        const context = Array.from({ length: depth }, randomToken);
        // Each test starts from the same `depth` tokens of context, prefilled untimed (llama-bench's -d).
        const startAtDepth = () => {
          m.cache.truncate(0);
          if (depth > 0) m.forward(context);
        };
        const pp: number[] = [];
        const tg: number[] = [];
        const ttft: number[] = [];
        let readDuringTg = 0;
        // Tokens in the KV cache when the last test ended: depth + n (or + p): that the prefill happened.
        let contextAtEnd = 0;
        for (let r = 0; r <= reps; r++) {
          // Repetition 0 warms the caches and the page cache, and is not counted (llama-bench does the same).
          if (p > 0) {
            startAtDepth();
            const s = performance.now();
            const logits = m.forward(prompt);
            const prefill = performance.now() - s;
            let best = 0;
            for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            const first = performance.now() - s;
            if (r > 0) {
              pp.push((p / prefill) * 1000);
              ttft.push(first);
            }
          }
          if (n > 0) {
            startAtDepth();
            const s = performance.now();
            const read0 = bytesReadFromStorage();
            for (let i = 0; i < n; i++) m.forward([randomToken()]);
            if (r > 0) tg.push((n / (performance.now() - s)) * 1000);
            if (r > 0) readDuringTg += bytesReadFromStorage() - read0;
          }
          contextAtEnd = m.cache.length;
        }
        let speculative = null;
        if (flags.draft && n > 0) {
          const draft = await openDraft({ draft: flags.draft }, model);
          try {
            const d = benchDraft(model, draft!, flags.prompt, n, reps, parseInteger(flags.draftMax, "--draft-max", 1, 64), parseFloatOption(flags.draftPMin, "--draft-p-min", 0, 1));
            speculative = {
              draft: flags.draft,
              plain_tok_s: round(d.plain.mean),
              plain_tok_s_sd: round(d.plain.sd),
              draft_tok_s: round(d.speculative.mean),
              draft_tok_s_sd: round(d.speculative.sd),
              speedup: round(d.speedup),
              acceptance_rate: round(d.acceptance),
              drafted_per_run: round(d.drafted),
            };
          } finally {
            if (draft && draft !== "lookup") draft.close();
          }
        }
        const ppStats = pp.length ? meanSd(pp) : null;
        const tgStats = tg.length ? meanSd(tg) : null;
        if (flags.record && depth === 0) {
          appendResult(resultsPath(flags.results), {
            kind: "bench",
            ...describeRun(m.file, m.kernels.variant, m.kernels.threads),
            pp_tok_s: ppStats ? round(ppStats.mean) : null,
            tg_tok_s: tgStats ? round(tgStats.mean) : null,
            ttft_ms: ttft.length ? round(meanSd(ttft).mean) : null,
            peak_rss_mb: peakRssMb(),
          });
        }
        results.push({
          model: path,
          arch: m.config.arch,
          variant: m.kernels.variant,
          threads: m.kernels.threads,
          p,
          n,
          depth,
          context_tokens_at_end: contextAtEnd,
          repetitions: reps,
          pp_tok_s: ppStats ? round(ppStats.mean) : null,
          pp_tok_s_sd: ppStats ? round(ppStats.sd) : null,
          tg_tok_s: tgStats ? round(tgStats.mean) : null,
          tg_tok_s_sd: tgStats ? round(tgStats.sd) : null,
          ttft_ms: ttft.length ? round(meanSd(ttft).mean) : null,
          load_ms: round(loadMs),
          peak_rss_mb: peakRssMb(),
          memory_mode: m.memoryMode,
          mem_budget_mb: memoryBudget !== undefined ? round(memoryBudget / 1048576) : null,
          // The share of the mapped weights in 2 MiB pages after the runs, and whether the load re-read them for it.
          huge_page_share: hugePageShare(m.file),
          huge_pages_reread: m.hugePages.hugeShareAfter !== null,
          mapping_resident_max_mb: m.streamer ? round(m.streamer.maxResidentBytes / 1048576) : null,
          disk_read_mb_per_token: tg.length ? round(readDuringTg / 1048576 / (n * tg.length)) : null,
          speculative,
        });
        model.close();
      }
      if (flags.json) {
        console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
        return;
      }
      console.log("| model | variant | threads | test | tok/s |");
      console.log("|---|---|---|---|---|");
      for (const r of results) {
        const name = r.model.split("/").pop();
        const at = r.depth > 0 ? ` @ d${r.depth}` : "";
        if (r.pp_tok_s !== null) console.log(`| ${name} | ${r.variant} | ${r.threads} | pp${r.p}${at} | ${r.pp_tok_s} ± ${r.pp_tok_s_sd} |`);
        if (r.tg_tok_s !== null) console.log(`| ${name} | ${r.variant} | ${r.threads} | tg${r.n}${at} | ${r.tg_tok_s} ± ${r.tg_tok_s_sd} |`);
        const s = r.speculative;
        if (s) {
          console.log(`| ${name} | ${r.variant} | ${r.threads} | greedy${r.n} | ${s.plain_tok_s} ± ${s.plain_tok_s_sd} |`);
          console.log(`| ${name} | ${r.variant} | ${r.threads} | greedy${r.n} + draft ${s.draft} | ${s.draft_tok_s} ± ${s.draft_tok_s_sd} (×${s.speedup}, ${Math.round(s.acceptance_rate * 100)}% accepted) |`);
        }
      }
      const r0 = results[0];
      const huge = r0.huge_page_share === null ? "" : ` · ${Math.round(r0.huge_page_share * 100)}% in 2 MiB pages${r0.huge_pages_reread ? " (re-read at load)" : ""}`;
      console.log(`load ${r0.load_ms} ms · time to first token ${r0.ttft_ms} ms · peak RSS ${r0.peak_rss_mb} MB · weights ${r0.memory_mode}${huge}`);
      if (r0.memory_mode === "streaming") console.log(`streaming: at most ${r0.mapping_resident_max_mb} MB of weights resident, ${r0.disk_read_mb_per_token} MB read from disk per generated token`);
    });
}
