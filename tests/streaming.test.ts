/**
 * Memory-bounded loading. Gemma-3-270M (241 MB file) under a 64 MiB budget runs in streaming mode: greedy
 * output identical to resident mode, the mapping's resident bytes (mincore, sampled at every layer boundary)
 * within the budget's weight window, and the process's peak RSS within the budget above what it held before
 * generating (the runtime, the tokenizer and the allocated buffers: the documented constant overhead).
 * A budget that cannot hold even the streaming window is refused before anything is allocated.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, testModel } from "./helpers.ts";

// mincore counts the file's pages in the page cache, whoever maps them; other tests (in this runner process)
// map the shared model file, so streaming is measured on a private copy that only the child process maps.
const dir = mkdtempSync(join(tmpdir(), "zinc-streaming-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const prompt = "The capital of France is";

describe("streaming weights under a memory budget", () => {
  test("gemma3-270m at 64 MiB: same greedy tokens as resident, resident weights and peak RSS within the budget", async () => {
    const path = join(dir, "gemma-copy.gguf");
    copyFileSync(await testModel("gemma3-270m"), path);
    const resident = JSON.parse(runCli(["run", "-m", path, "-p", prompt, "-n", "12", "--ctx", "256", "--json"]).stdout);
    expect(resident.memory.mode).toBe("resident");
    const out = runCli(["run", "-m", path, "-p", prompt, "-n", "12", "--ctx", "256", "--mem-budget", "64M", "--json"]);
    expect(out.exitCode).toBe(0);
    const streamed = JSON.parse(out.stdout);
    expect(streamed.memory.mode).toBe("streaming");
    expect(streamed.generated_tokens).toEqual(resident.generated_tokens);
    const m = streamed.memory;
    // Resident weight pages never exceed what the budget leaves after the KV cache and the scratch.
    expect(m.mapping_resident_max_mb).toBeGreaterThan(0);
    expect(m.mapping_resident_max_mb).toBeLessThanOrEqual(64 - m.kv_cache_mb - m.scratch_mb);
    expect(streamed.peak_rss_mb - m.rss_before_generation_mb).toBeLessThanOrEqual(64);
    // Resident mode keeps the whole file mapped in (from the load on: it is mapped in then, when cached — see
    // src/model/huge-pages.ts): the comparison that shows the budget did something.
    expect(resident.peak_rss_mb - streamed.peak_rss_mb).toBeGreaterThan(150);
  }, 300_000);

  test("a budget below even the streaming window is refused with the numbers, before allocating", async () => {
    const out = runCli(["run", "-m", await testModel("gemma3-270m"), "-p", prompt, "--ctx", "256", "--mem-budget", "8M"]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toMatch(/not enough memory: this model needs \d+ MiB .*and \d+ MiB even streaming its weights, but the budget is 8 MiB; use a smaller quant/);
  });

  test("inspect tells which mode a budget gives: resident, streaming or refused", async () => {
    const path = await testModel("gemma3-270m");
    const mode = (ram: string) => JSON.parse(runCli(["inspect", path, "--ctx", "256", "--ram", ram, "--json"]).stdout).memory.mode;
    expect(mode("1G")).toBe("resident");
    expect(mode("64M")).toBe("streaming");
    expect(mode("8M")).toBe("refused");
  });
});
