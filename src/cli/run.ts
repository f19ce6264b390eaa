/** `zinc run`: one completion (or one chat turn with --chat), streamed or as one JSON object. */
import type { Command } from "commander";
import type { GenerateOptions } from "../index.ts";
import { bytesReadFromStorage } from "../model/streaming.ts";
import { currentRssMb, openDraft, openFromFlags, parseFloatOption, parseInteger, peakRssMb } from "./common.ts";

/** What addGenerationOptions declares, as commander hands it to an action. */
export interface GenerationFlags {
  model?: string;
  n: string;
  temp: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repeatPenalty?: string;
  seed?: string;
  ctx?: string;
  chatTemplate?: string;
  memBudget?: string;
  kvType?: string;
  draft?: string;
  draftMax?: string;
  draftMin?: string;
  draftPMin?: string;
}

interface RunFlags extends GenerationFlags {
  prompt: string;
  chat?: boolean;
  system?: string;
  json?: boolean;
}

export function samplingFromFlags(flags: GenerationFlags): GenerateOptions {
  return {
    draftMax: flags.draftMax !== undefined ? parseInteger(flags.draftMax, "--draft-max", 1, 64) : undefined,
    draftMin: flags.draftMin !== undefined ? parseInteger(flags.draftMin, "--draft-min", 1, 64) : undefined,
    draftPMin: flags.draftPMin !== undefined ? parseFloatOption(flags.draftPMin, "--draft-p-min", 0, 1) : undefined,
    maxTokens: flags.n !== undefined ? parseInteger(flags.n, "-n", 0, 1 << 20) : 256,
    temperature: flags.temp !== undefined ? parseFloatOption(flags.temp, "--temp", 0, 100) : undefined,
    topK: flags.topK !== undefined ? parseInteger(flags.topK, "--top-k", 0) : undefined,
    topP: flags.topP !== undefined ? parseFloatOption(flags.topP, "--top-p", 0.0001, 1) : undefined,
    minP: flags.minP !== undefined ? parseFloatOption(flags.minP, "--min-p", 0, 0.9999) : undefined,
    repeatPenalty: flags.repeatPenalty !== undefined ? parseFloatOption(flags.repeatPenalty, "--repeat-penalty", 0.01, 100) : undefined,
    seed: flags.seed !== undefined ? parseInteger(flags.seed, "--seed", 0, 2 ** 32 - 1) : undefined,
  };
}

/** The sampling and context flags `run` and `chat` share. */
export function addGenerationOptions(command: Command, defaults: { n: string; temp: string }): Command {
  return command
    .option("-m, --model <alias|path>", "model alias or GGUF path (default: smollm2-135m)")
    .option("-n, --n <tokens>", "tokens to generate at most", defaults.n)
    .option("--temp <t>", "temperature; 0 is greedy", defaults.temp)
    .option("--top-k <k>", "keep the k most likely tokens (0: all)")
    .option("--top-p <p>", "nucleus sampling threshold")
    .option("--min-p <p>", "drop tokens below p × the top probability")
    .option("--repeat-penalty <r>", "penalise recently used tokens")
    .option("--seed <s>", "random seed (same seed, same output)")
    .option("--ctx <n>", "context length in tokens", "4096")
    .option("--chat-template <file>", "a Jinja chat template to use instead of the model's")
    .option("--mem-budget <size>", "memory the model may use, e.g. 6G (default: available memory)")
    .option("--kv-type <type>", "KV cache storage: f16 or q8_0 (half the memory)", "f16")
    .option("--no-huge-pages", "use the weights as the page cache holds them, without re-reading a cached file into 2 MiB pages")
    .option("--draft <alias|path|lookup>", "speculative decoding (greedy): a draft model with the same vocabulary, or prompt lookup")
    .option("--draft-max <n>", "most tokens drafted per step", "8")
    .option("--draft-min <n>", "fewest drafted tokens worth a verification pass", "1")
    .option("--draft-p-min <p>", "a draft model stops when its top probability is below this", "0.6");
}

export function registerRun(program: Command): void {
  addGenerationOptions(program.command("run").description("generate one completion (or one chat turn with --chat)"), { n: "128", temp: "0" })
    .requiredOption("-p, --prompt <text>", "the prompt")
    .option("--chat", "wrap the prompt as a user message in the model's chat template")
    .option("--system <text>", "system message for --chat")
    .option("--json", "print one JSON object instead of streaming text")
    .action(async (flags: RunFlags) => {
      const options = samplingFromFlags(flags);
      const { model, loadMs } = await openFromFlags(flags);
      const draft = await openDraft(flags, model);
      if (draft) options.draft = draft === "lookup" ? "lookup" : draft.session;
      const messages = [...(flags.system ? [{ role: "system", content: flags.system }] : []), { role: "user", content: flags.prompt }];
      const promptIds = flags.chat ? model.chatPrompt(messages).ids : model.tokenize(flags.prompt);
      // What the process holds before the first token (runtime, tokenizer, allocations) and has read so far:
      // the baseline for the memory report.
      const rssBeforeMb = currentRssMb();
      const readBefore = bytesReadFromStorage();
      const run = model.session.generate(promptIds, options);
      const generated: number[] = [];
      let text = "";
      let stats;
      for (;;) {
        const next = run.next();
        if (next.done) {
          stats = next.value;
          break;
        }
        generated.push(next.value.token);
        text += next.value.text;
        if (!flags.json) process.stdout.write(next.value.text);
      }
      if (!flags.json) {
        process.stdout.write("\n");
        model.close();
        return;
      }
      const decodeTokens = Math.max(0, stats.generatedTokens - 1);
      console.log(
        JSON.stringify({
          text,
          prompt_tokens: promptIds,
          generated_tokens: generated,
          stop_reason: stats.stopReason,
          speculative: flags.draft ? { draft: flags.draft, drafted: stats.drafted, accepted: stats.accepted, acceptance_rate: stats.drafted ? round(stats.accepted / stats.drafted) : 0 } : undefined,
          timings: {
            load_ms: round(loadMs),
            prefill_ms: round(stats.prefillMs),
            ttft_ms: round(stats.ttftMs),
            prefill_tok_s: round(stats.prefillTokens / (stats.prefillMs / 1000)),
            decode_tok_s: round(decodeTokens > 0 ? decodeTokens / (stats.decodeMs / 1000) : 0),
          },
          peak_rss_mb: peakRssMb(),
          memory: {
            mode: model.model.memoryMode,
            rss_before_generation_mb: rssBeforeMb,
            weights_mb: round(model.model.memory.weightBytes / 1048576),
            kv_cache_mb: round(model.model.memory.kvCacheBytes / 1048576),
            scratch_mb: round(model.model.memory.scratchBytes / 1048576),
            mapping_resident_max_mb: model.model.streamer ? round(model.model.streamer.maxResidentBytes / 1048576) : null,
            disk_read_mb_per_token: round((bytesReadFromStorage() - readBefore) / 1048576 / Math.max(1, stats.generatedTokens)),
          },
          kernel_variant: model.model.kernels.variant,
          threads: model.model.kernels.threads,
        }),
      );
      model.close();
    });
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 100) / 100 : 0;
}
