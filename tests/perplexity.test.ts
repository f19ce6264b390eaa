/**
 * zinc perplexity against llama-perplexity on the same model and text (tests/fixtures/reference/perplexity.json):
 * within 1% (the issue's bar), and in fact to all printed digits, since zinc computes the same logits: for the
 * Q4_K_M models llama-perplexity ran with its default repacked Q4_K kernels (`repacked` in the fixture), whose
 * order zinc follows for such files (repackedOrderFor); SmolLM2's Q4_1 is never repacked.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, repoRoot, testModel } from "./helpers.ts";

const reference = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "reference", "perplexity.json"), "utf8"));
const text = join(repoRoot, "data", "perplexity.txt");

describe("zinc perplexity matches llama-perplexity", () => {
  test.each(reference.results.map((r: { alias: string; ctx: number }) => [r.alias, r.ctx]) as [string, number][])("%s at ctx %d", async (alias, ctx) => {
    const r = reference.results.find((x: { alias: string; ctx: number }) => x.alias === alias && x.ctx === ctx);
    const path = await testModel(alias);
    const out = runCli(["perplexity", "-m", path, "-f", text, "--ctx", String(ctx), "--json"]);
    expect(out.exitCode).toBe(0);
    const got = JSON.parse(out.stdout);
    expect(Math.abs(got.ppl - r.ppl) / r.ppl).toBeLessThan(0.01);
    expect(got.ppl.toFixed(4)).toBe(r.ppl.toFixed(4));
  }, 600_000);

  test("a text too short for the context is a clear error", async () => {
    const out = runCli(["perplexity", "-m", await testModel("smollm2-135m"), "-f", join(repoRoot, "README.md"), "--ctx", "100000"]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toMatch(/needs at least 200000|larger than the model context/);
  }, 60_000);
});
