/**
 * The real models of ../shared/README.md against llama.cpp on the same files (tests/fixtures/reference):
 * prompt tokenization, every bit of the first step's logits (a SHA-256 of all of them; the long prompt runs
 * attention through llama.cpp's tiled path), 64 greedy tokens. A divergence in the continuation would be accepted
 * only where llama.cpp's own top-2 margin is below 0.01 (a near-tie); today every token agrees.
 * Every decode step's top-2 margin is compared too. 2 threads, as the fixtures were made: past 512 cells
 * llama.cpp cuts one-token attention into a chunk per thread, which is part of its result.
 * Under a forced kernel variant (scripts/test.sh) only the two small models run, to keep CI short.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openLoadedModel } from "../src/index.ts";
import { testModel } from "./helpers.ts";

interface Reference {
  results: { prompt: string; prompt_ids: number[]; generated_ids: number[]; top2_margins: number[]; first_top10: [number, number][]; first_logits_sha256: string }[];
}

const fixtures: [alias: string, file: string][] = [
  ["smollm2-135m", "smollm2-135m.json"],
  ["gemma3-270m", "gemma3-270m.json"],
  ["qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b.json"],
  ["qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b.json"],
];
const forced = process.env.ZINC_KERNELS !== undefined && process.env.ZINC_KERNELS !== "";
const selected = forced ? fixtures.slice(0, 2) : fixtures;
const nearTie = 0.01;

describe.each(selected)(`%s matches llama.cpp (kernels: ${process.env.ZINC_KERNELS ?? "auto"})`, (alias, file) => {
  const reference: Reference = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "reference", file), "utf8"));

  const label = (prompt: string) => (prompt.length > 40 ? `${JSON.stringify(prompt.slice(0, 30))}… (${prompt.length} chars)` : JSON.stringify(prompt));
  test.each(reference.results.map((r) => [label(r.prompt), r.prompt] as const))(
    "%s: prompt ids, first-step logits bit for bit, 64 greedy tokens",
    async (_, prompt) => {
      const r = reference.results.find((x) => x.prompt === prompt)!;
      const model = openLoadedModel(await testModel(alias), { contextLength: 1024, threads: 2 });
      try {
        const ids = model.tokenize(prompt);
        expect(ids).toEqual(r.prompt_ids);

        const logits = model.forward(ids);
        const ours = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 10);
        expect(ours).toEqual(r.first_top10.map(([id]) => id));
        for (const [id, value] of r.first_top10) expect(Math.abs(logits[id] - value)).toBeLessThan(1e-3);
        const hash = new Bun.CryptoHasher("sha256").update(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)).digest("hex");
        expect(hash).toBe(r.first_logits_sha256);

        // From an empty context, so the prompt is one batch as in llama.cpp (a reused prefix would recompute
        // only the last prompt token, alone, and a batch of 64+ tokens sums attention differently).
        model.session.reset();
        const generated: number[] = [];
        for (const piece of model.session.generate(ids, { temperature: 0, maxTokens: r.generated_ids.length })) generated.push(piece.token);
        const firstDifference = r.generated_ids.findIndex((t, i) => generated[i] !== t);
        if (firstDifference >= 0) {
          // Only a near-tie in llama.cpp's own logits may flip a token; after it the texts legitimately differ.
          expect(r.top2_margins[firstDifference]).toBeLessThan(nearTie);
        } else {
          expect(generated).toEqual(r.generated_ids);
        }

        // Every decode step's top-2 margin to llama.cpp's printed precision (6 digits): the one-query path
        // and, past 512 cells, the split path (the 575-token prompt) must sum as llama.cpp does.
        model.session.reset();
        let stepLogits = model.model.forward(ids);
        const steps = firstDifference >= 0 ? firstDifference : r.generated_ids.length;
        for (let i = 0; i < steps; i++) {
          let first = 0;
          for (let v = 1; v < stepLogits.length; v++) if (stepLogits[v] > stepLogits[first]) first = v;
          let second = first === 0 ? 1 : 0;
          for (let v = 0; v < stepLogits.length; v++) if (v !== first && stepLogits[v] > stepLogits[second]) second = v;
          const margin = stepLogits[first] - stepLogits[second];
          expect({ step: i, margin: Math.abs(margin - r.top2_margins[i]) <= 1e-5 * Math.max(1, r.top2_margins[i]) ? "agrees" : margin }).toEqual({ step: i, margin: "agrees" });
          stepLogits = model.model.forward([r.generated_ids[i]]);
        }
      } finally {
        model.close();
      }
    },
    600_000,
  );
});
