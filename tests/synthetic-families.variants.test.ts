/**
 * The families without real weights here (qwen3, gemma2, phi3, gpt2, plus llama/qwen2/gemma3 shapes) on small
 * synthetic GGUF files with random weights (scripts/synthetic-model.ts), against llama.cpp on the same files
 * (tests/fixtures/reference/synthetic): prompt ids, first-step top-10 logits, 48 greedy tokens with the
 * end-of-generation tokens ignored. The files are regenerated here; their sha256 must match the fixture's,
 * so a generator change cannot silently compare against another model.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openLoadedModel } from "../src/index.ts";
import { writeSyntheticModel } from "../scripts/synthetic-model.ts";
import { repoRoot } from "./helpers.ts";

const fixtureDir = join(import.meta.dir, "fixtures", "reference", "synthetic");
const outDir = join(repoRoot, ".cache", "synthetic");
const fixtures = readdirSync(fixtureDir).filter((f) => f.endsWith(".json")).sort();

beforeAll(() => mkdirSync(outDir, { recursive: true }));

describe.each(fixtures)(`synthetic %s matches llama.cpp (kernels: ${process.env.ZINC_KERNELS ?? "auto"})`, (file) => {
  const reference = JSON.parse(readFileSync(join(fixtureDir, file), "utf8"));
  const path = join(outDir, reference.model);

  test("the generated file is the one the reference was made from", () => {
    writeSyntheticModel(reference.shape, path);
    expect(createHash("sha256").update(readFileSync(path)).digest("hex")).toBe(reference.model_sha256);
  });

  test.each(reference.results.map((r: { prompt: string }) => r.prompt) as string[])("%p", (prompt) => {
    const r = reference.results.find((x: { prompt: string }) => x.prompt === prompt);
    const model = openLoadedModel(path, { contextLength: 256 });
    try {
      const ids = model.tokenize(prompt);
      expect(ids).toEqual(r.prompt_ids);
      const logits = model.forward(ids);
      const ours = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 10);
      expect(ours).toEqual(r.first_top10.map(([id]: [number, number]) => id));
      for (const [id, value] of r.first_top10) expect(Math.abs(logits[id] - value)).toBeLessThan(1e-3);
      const generated: number[] = [];
      for (const piece of model.session.generate(ids, { temperature: 0, maxTokens: r.generated_ids.length, stopAtEog: false })) generated.push(piece.token);
      const firstDifference = r.generated_ids.findIndex((t: number, i: number) => generated[i] !== t);
      if (firstDifference >= 0) expect(r.top2_margins[firstDifference]).toBeLessThan(0.01);
      else expect(generated).toEqual(r.generated_ids);
    } finally {
      model.close();
    }
  });
});
