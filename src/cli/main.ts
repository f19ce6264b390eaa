#!/usr/bin/env bun
/**
 * The zinc command line. Each command lives in its own file and registers itself here. A ZincError (a user
 * error: bad flag value, missing file, unsupported model) prints as one line and exits 1; anything else is a
 * bug and keeps its stack trace.
 */
import { Command, CommanderError } from "commander";
import { ZincError } from "../errors.ts";
import { parseThreadCount } from "../native/index.ts";
import { registerBench } from "./bench.ts";
import { registerChat } from "./chat.ts";
import { registerDoctor } from "./doctor.ts";
import { registerInspect } from "./inspect.ts";
import { registerModels } from "./models.ts";
import { registerPerplexity } from "./perplexity.ts";
import { registerQuantize } from "./quantize.ts";
import { registerReport } from "./report.ts";
import { registerRun } from "./run.ts";
import { registerTokenize } from "./tokenize.ts";

const program = new Command()
  .name("zinc")
  .description("CPU-native LLM inference: Zig kernels, TypeScript on Bun")
  .version("0.1.0")
  .option("-t, --threads <n>", "kernel threads (default: ZINC_THREADS, else one per physical core)")
  .hook("preAction", (command) => {
    const threads = command.opts().threads as string | undefined;
    if (threads !== undefined) process.env.ZINC_THREADS = String(parseThreadCount(threads, "--threads"));
  })
  .exitOverride()
  .showSuggestionAfterError(true);

registerChat(program);
registerRun(program);
registerModels(program);
registerInspect(program);
registerTokenize(program);
registerBench(program);
registerPerplexity(program);
registerQuantize(program);
registerReport(program);
registerDoctor(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ZincError) {
    console.error(`zinc: ${err.oneLine()}`);
    process.exit(1);
  }
  throw err;
}
