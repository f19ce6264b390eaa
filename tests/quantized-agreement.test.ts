/**
 * `zinc quantize` outputs run in llama.cpp and agree with zinc: SmolLM2-135M re-quantized to each target (tensor
 * bytes identical to llama-quantize's, see tests/quantize.test.ts) gives the same prompt tokens, first-step
 * top-10 logits (every bit of them) and 32 greedy tokens in zinc as llama.cpp produced on the same file
 * (tests/fixtures/reference/smollm2-135m-quantized.json, from scripts/reference/quantized-agreement.sh).
 * This covers the K-quant, IQ4 and fallback kernels on a real model, decode and prefill; the targets with Q4_0,
 * Q4_K or IQ4_NL tensors (all but Q5_K_M, Q6_K and Q5_1) against llama.cpp with its default weight repacking
 * (the repacked orders, vec_dot.vecDotRepacked4Bit/Q4_K), with the long prompt as well so that whole 16-token
 * tiles run.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { quantizeModel } from "../src/gguf/quantize.ts";
import { openGguf } from "../src/gguf/reader.ts";
import { openLoadedModel } from "../src/index.ts";
import { loadKernels } from "../src/native/index.ts";
import { testModel } from "./helpers.ts";

interface Reference {
  results: { prompt: string; prompt_ids: number[]; generated_ids: number[]; top2_margins: number[]; first_top10: [number, number][]; first_logits_sha256: string }[];
}
const references: Record<string, Reference> = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "reference", "smollm2-135m-quantized.json"), "utf8"));
const dir = mkdtempSync(join(tmpdir(), "zinc-quantized-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nearTie = 0.01;

describe.each(Object.keys(references))("SmolLM2-135M quantized by zinc to %s matches llama.cpp on that file", (target) => {
  test("prompt ids, first-step logits and 32 greedy tokens", async () => {
    const path = join(dir, `smollm2-${target}.gguf`);
    const source = openGguf(await testModel("smollm2-135m"));
    try {
      quantizeModel(source, path, target, loadKernels());
    } finally {
      source.close();
    }
    const model = openLoadedModel(path, { contextLength: 256 });
    try {
      for (const r of references[target].results) {
        const ids = model.tokenize(r.prompt);
        expect(ids).toEqual(r.prompt_ids);
        const logits = model.forward(ids);
        const ours = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 10);
        expect(ours).toEqual(r.first_top10.map(([id]) => id));
        for (const [id, value] of r.first_top10) expect(Math.abs(logits[id] - value)).toBeLessThan(1e-3);
        // Every bit of the first step's logits (Q4_0/Q4_K/IQ4_NL: llama.cpp's repacked orders, its default).
        expect(createHash("sha256").update(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)).digest("hex")).toBe(r.first_logits_sha256);
        // Generate from an empty cache so the prompt is one batch, as in llama.cpp: reusing forward()'s cache
        // would recompute the last prompt token alone, and for IQ4_NL/IQ4_XS llama.cpp sums a single token in
        // another order than a batch (see zig/quants/vec_dot.zig, Path).
        model.session.reset();
        const generated: number[] = [];
        for (const piece of model.session.generate(ids, { temperature: 0, maxTokens: r.generated_ids.length })) generated.push(piece.token);
        const firstDifference = r.generated_ids.findIndex((t, i) => generated[i] !== t);
        if (firstDifference >= 0) expect(r.top2_margins[firstDifference]).toBeLessThan(nearTie);
        else expect(generated).toEqual(r.generated_ids);
      }
    } finally {
      model.close();
    }
  }, 120_000);
});
