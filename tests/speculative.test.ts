/**
 * Speculative decoding (greedy): with any draft — the model itself, a Q4_0 copy made by zinc quantize, or
 * prompt lookup — the output is the plain greedy output, token for token, for several draft lengths.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { nextDraftLength } from "../src/generate/session.ts";
import { openLoadedModel, type LoadedModel } from "../src/index.ts";
import { runCli, scratchDir, testModel } from "./helpers.ts";

const prompts = ["The capital of France is", "def fibonacci(n):\n    if n < 2:\n        return n\n    return", "Repeat after me: the quick brown fox jumps over the lazy dog. The quick brown"];
let target: LoadedModel;
let selfDraft: LoadedModel;
let q4Draft: LoadedModel;
const plain = new Map<string, number[]>();

function greedy(model: LoadedModel, prompt: string, options: Parameters<LoadedModel["session"]["generate"]>[1] = {}) {
  const out: number[] = [];
  const run = model.session.generate(model.tokenize(prompt), { temperature: 0, maxTokens: 48, ...options });
  for (let r = run.next(); ; r = run.next()) {
    if (r.done) return { tokens: out, stats: r.value };
    out.push(r.value.token);
  }
}

beforeAll(async () => {
  const path = await testModel("smollm2-135m");
  target = openLoadedModel(path, { contextLength: 512 });
  selfDraft = openLoadedModel(path, { contextLength: 512 });
  const q4 = join(scratchDir("spec"), "smollm2-q4_0.gguf");
  expect(runCli(["quantize", path, q4, "Q4_0"]).exitCode).toBe(0);
  q4Draft = openLoadedModel(q4, { contextLength: 512 });
  for (const p of prompts) plain.set(p, greedy(target, p).tokens);
}, 600_000);

test("a verification batch gives the bits of one-token steps, also past 512 cells (attention's split path) and for 64+ tokens", async () => {
  // Plain decoding past 512 cells cuts attention into a chunk per thread; a verification batch must do the
  // same per token, not take the batch paths (one query at a time for the batch, or tiled from 64 tokens).
  const model = openLoadedModel(await testModel("smollm2-135m"), { contextLength: 1024, threads: 2 });
  try {
    const text = await Bun.file(join(import.meta.dir, "fixtures", "reference", "long-prompt.txt")).text();
    const prefix = model.tokenize(Array(5).fill(text.trim()).join(" "));
    expect(prefix.length).toBeGreaterThan(512);
    const next = Array.from({ length: 70 }, (_, i) => 100 + 37 * i);
    model.session.reset();
    model.model.forward(prefix);
    const V = model.config.vocabSize;
    const batch = model.model.forward(next, { allLogits: true, oneTokenOrder: true }).slice();
    model.session.reset();
    model.model.forward(prefix);
    for (let i = 0; i < next.length; i++) {
      const step = model.model.forward([next[i]]);
      expect({ token: i, same: step.every((v, j) => v === batch[i * V + j]) }).toEqual({ token: i, same: true });
    }
  } finally {
    model.close();
  }
}, 600_000);

test("the draft length grows while every draft is accepted and drops to what was accepted after a miss", () => {
  expect(nextDraftLength(4, 4, 4, 1, 8)).toBe(6);
  expect(nextDraftLength(6, 6, 6, 1, 8)).toBe(8);
  expect(nextDraftLength(8, 8, 8, 1, 8)).toBe(8);
  expect(nextDraftLength(8, 8, 2, 1, 8)).toBe(3);
  expect(nextDraftLength(8, 8, 0, 2, 8)).toBe(2);
  // A draft model that stopped early (low confidence) but was right still grows from the current length.
  expect(nextDraftLength(6, 3, 3, 1, 8)).toBe(8);
});

describe("speculative greedy output equals plain greedy output", () => {
  test.each(prompts)("%p with the model as its own draft, lengths 1, 4, 8", (prompt) => {
    for (const draftMax of [1, 4, 8]) {
      const { tokens, stats } = greedy(target, prompt, { draft: selfDraft.session, draftMax, draftPMin: 0 });
      expect(tokens).toEqual(plain.get(prompt)!);
      // A model drafting for itself is always right, so the draft length grows to draftMax: starting at 4
      // with draftMax 8 (4, 6, 8, 8, …) 48 tokens take at most 7 verification passes, not the 10 of a fixed 4.
      expect(stats.accepted).toBe(stats.drafted);
      expect(stats.drafted).toBeGreaterThan(0);
      if (draftMax === 8) expect(stats.draftRounds).toBeLessThanOrEqual(7);
    }
  });

  test.each(prompts)("%p with a Q4_0 copy as draft", (prompt) => {
    const { tokens, stats } = greedy(target, prompt, { draft: q4Draft.session, draftMax: 6, draftPMin: 0.3 });
    expect(tokens).toEqual(plain.get(prompt)!);
    expect(stats.drafted).toBeGreaterThan(0);
  });

  test.each(prompts)("%p with prompt-lookup drafts", (prompt) => {
    const { tokens } = greedy(target, prompt, { draft: "lookup", draftMax: 5 });
    expect(tokens).toEqual(plain.get(prompt)!);
  });

  test("a draft with another vocabulary is refused", async () => {
    const stories = openLoadedModel(join(import.meta.dir, "..", "..", "shared", "fixtures", "models", "stories260K.gguf"), { contextLength: 128 });
    expect(() => greedy(target, "Hi", { draft: stories.session })).toThrow(/draft model's vocabulary \(512 tokens\) is not the model's \(49152 tokens\)/);
    stories.close();
  });
});

describe("speculative sampling keeps the model's distribution", () => {
  test("stories260K: the fifth sampled token's frequencies match plain sampling (chi-square, p > 0.001)", () => {
    const storiesPath = join(import.meta.dir, "..", "..", "shared", "fixtures", "models", "stories260K.gguf");
    const model = openLoadedModel(storiesPath, { contextLength: 64 });
    const q8 = join(scratchDir("spec"), "stories-q4_0.gguf");
    expect(runCli(["quantize", storiesPath, q8, "Q4_0"]).exitCode).toBe(0);
    const draft = openLoadedModel(q8, { contextLength: 64 });
    const sampling = { temperature: 1.3, topK: 0, topP: 1, minP: 0, maxTokens: 5 };
    const runs = 1500;
    const third = (speculative: boolean) => {
      const counts = new Map<number, number>();
      let drafted = 0;
      for (let seed = 1; seed <= runs; seed++) {
        const out: number[] = [];
        // Lookup drafts on a repetitive prompt are proposed at almost every step and are certain (q = 1), so
        // an acceptance rule that kept them too often would visibly skew the counts.
        const prompt = "Once upon a time, there was a dog. Once upon a time, there was a cat. Once upon a time, there was";
        const draftOptions = speculative ? { draft: seed % 2 ? ("lookup" as const) : draft.session, draftMax: 3, draftPMin: 0 } : {};
        const run = model.session.generate(model.tokenize(prompt), { ...sampling, seed: speculative ? seed + 1_000_000 : seed, ...draftOptions });
        for (let r = run.next(); ; r = run.next()) {
          if (r.done) {
            drafted += r.value.drafted;
            break;
          }
          out.push(r.value.token);
        }
        counts.set(out[4], (counts.get(out[4]) ?? 0) + 1);
      }
      return { counts, drafted };
    };
    const plainRun = third(false);
    const specRun = third(true);
    expect(specRun.drafted).toBeGreaterThan(runs); // the speculative path really ran
    // Two-sample chi-square over tokens seen at least 10 times in total; the rest pooled.
    const ids = new Set([...plainRun.counts.keys(), ...specRun.counts.keys()]);
    let stat = 0;
    let df = -1;
    let pooledA = 0;
    let pooledB = 0;
    for (const id of ids) {
      const a = plainRun.counts.get(id) ?? 0;
      const b = specRun.counts.get(id) ?? 0;
      if (a + b < 10) {
        pooledA += a;
        pooledB += b;
        continue;
      }
      stat += (a - b) ** 2 / (a + b);
      df++;
    }
    if (pooledA + pooledB > 0) {
      stat += (pooledA - pooledB) ** 2 / (pooledA + pooledB);
      df++;
    }
    // Wilson–Hilferty approximation of the chi-square 0.999 quantile.
    const z = 3.09;
    const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
    expect(df).toBeGreaterThan(10);
    console.log(`chi-square ${stat.toFixed(1)} on ${df} degrees of freedom (critical ${critical.toFixed(1)})`);
    expect(stat).toBeLessThan(critical);
    model.close();
    draft.close();
  }, 300_000);
});

describe("verification batches reproduce one-token decoding bit for bit", () => {
  // F16 (like BF16, IQ4_NL and IQ4_XS) is summed in another order in a batch than for one token, following
  // llama.cpp; speculative verification asks for the one-token order so greedy output cannot change.
  test("F16 copy: batched verification logits equal token-by-token logits, and speculative output equals plain", async () => {
    const path = join(scratchDir("spec-f16"), "smollm2-f16.gguf");
    expect(runCli(["quantize", await testModel("smollm2-135m"), path, "F16"]).exitCode).toBe(0);
    const model = openLoadedModel(path, { contextLength: 256 });
    const draft = openLoadedModel(path, { contextLength: 256 });
    try {
      const prompt = model.tokenize(prompts[0]);
      const next = [260, 3575, 314, 2114];
      model.session.reset();
      model.model.forward(prompt);
      const V = model.config.vocabSize;
      const batch = new Uint32Array(model.model.forward(next, { allLogits: true, oneTokenOrder: true }).slice().buffer);
      model.session.reset();
      model.model.forward(prompt);
      for (let i = 0; i < next.length; i++) {
        const one = new Uint32Array(model.model.forward([next[i]]).slice().buffer);
        expect(Array.from(one)).toEqual(Array.from(batch.subarray(i * V, (i + 1) * V)));
      }
      model.session.reset();
      const reference = greedy(model, prompts[1]).tokens;
      const { tokens, stats } = greedy(model, prompts[1], { draft: draft.session, draftMax: 6, draftPMin: 0 });
      expect(stats.accepted).toBe(stats.drafted);
      expect(tokens).toEqual(reference);
    } finally {
      model.close();
      draft.close();
    }
  }, 300_000);
});
