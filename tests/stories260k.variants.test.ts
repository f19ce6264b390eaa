/**
 * The smallest end-to-end check: stories260K (llama, GQA 2:1, SentencePiece) reproduces llama2.c's and
 * llama.cpp's greedy outputs exactly — tokenizer, RoPE, GQA, RMSNorm, SwiGLU and sampling together.
 * Runs again under every kernel variant this CPU can run (scripts/test.sh).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openLoadedModel } from "../src/index.ts";
import { sharedDir } from "./helpers.ts";

const modelPath = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const llama2c = JSON.parse(readFileSync(join(sharedDir, "reference", "stories260K.llama2c-200.json"), "utf8"));
const llamaCpp = JSON.parse(readFileSync(join(sharedDir, "reference", "stories260K.llama-cpp.json"), "utf8"));

describe(`stories260K greedy (kernels: ${process.env.ZINC_KERNELS ?? "auto"})`, () => {
  const model = openLoadedModel(modelPath, { contextLength: 512 });

  test("200 greedy steps from BOS reproduce llama2.c", async () => {
    const text = await model.complete([model.tokenizer.vocab.bos], { temperature: 0, maxTokens: llama2c.steps, stopAtEog: false });
    expect(text).toBe(llama2c.greedy_text);
  });

  test.each(llamaCpp.results.map((r: { prompt: string }) => r.prompt) as string[])("llama.cpp continuation of %p", async (prompt: string) => {
    const ref = llamaCpp.results.find((r: { prompt: string }) => r.prompt === prompt);
    const ids = model.tokenize(prompt);
    expect(ids).toEqual(ref.prompt_token_ids);
    const text = await model.complete(ids, { temperature: 0, maxTokens: ref.n_predict });
    expect(text).toBe(ref.greedy_text);
  });
});
