/** `zinc perplexity`: llama-perplexity's measurement on a text file. */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { ZincError } from "../errors.ts";
import { computePerplexity } from "../generate/perplexity.ts";
import { appendResult, describeRun, resultsPath } from "../report/results.ts";
import { openFromFlags, parseInteger, peakRssMb } from "./common.ts";

export function registerPerplexity(program: Command): void {
  program
    .command("perplexity")
    .description("perplexity of a model on a text (llama.cpp's method: chunks of --ctx tokens, second halves scored)")
    .option("-m, --model <alias|path>", "model alias or GGUF path (default: smollm2-135m)")
    .requiredOption("-f, --file <text>", "a UTF-8 text file (data/perplexity.txt is a public-domain one)")
    .option("--ctx <n>", "tokens per chunk", "512")
    .option("--json", "print one JSON object")
    .option("--results <file>", "append the result here (default: ZINC_RESULTS or ~/.cache/zinc/results.jsonl)")
    .option("--no-record", "do not append the result to the results file")
    .action(async (flags: { model?: string; file: string; ctx: string; json?: boolean; results?: string; record: boolean }) => {
      const ctx = parseInteger(flags.ctx, "--ctx", 8, 1 << 20);
      let text: string;
      try {
        text = readFileSync(flags.file, "utf8");
      } catch {
        throw new ZincError(`cannot read ${flags.file}`);
      }
      const { model } = await openFromFlags({ model: flags.model, ctx: String(ctx) });
      const result = computePerplexity(model, text, ctx, (c, ppl) => {
        if (!flags.json) process.stderr.write(`[${c + 1}] ${ppl.toFixed(4)}\n`);
      });
      if (flags.record) {
        const m = model.model;
        appendResult(resultsPath(flags.results), { kind: "perplexity", ...describeRun(m.file, m.kernels.variant, m.kernels.threads), ppl: result.perplexity, ppl_ctx: ctx, peak_rss_mb: peakRssMb() });
      }
      if (flags.json) {
        console.log(JSON.stringify({ model: model.path, ppl: result.perplexity, ppl_uncertainty: result.uncertainty, chunks: result.chunks, ctx, scored_tokens: result.scoredTokens, tok_s: result.tokensPerSecond, variant: model.model.kernels.variant, threads: model.model.kernels.threads }));
      } else {
        console.log(`perplexity ${result.perplexity.toFixed(4)} ± ${result.uncertainty.toFixed(4)} over ${result.chunks} chunks of ${ctx} tokens`);
      }
      model.close();
    });
}
