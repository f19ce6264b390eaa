/**
 * Sliding-window layers keep only a ring of window + batch KV rows. On the synthetic Gemma 2 and Gemma 3
 * models (window 8) with 4-token batches the rings wrap many times within 48 tokens, and the greedy output still
 * equals llama.cpp's (fixtures/reference/synthetic). Rolling back past what a ring still holds recomputes, so
 * the logits stay bit-identical to a fresh context; a short rollback reuses the cache.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeSyntheticModel } from "../scripts/synthetic-model.ts";
import { openLoadedModel } from "../src/index.ts";
import { repoRoot } from "./helpers.ts";

const outDir = join(repoRoot, ".cache", "synthetic");
beforeAll(() => mkdirSync(outDir, { recursive: true }));

function reference(shape: string) {
  return JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "reference", "synthetic", `${shape}.json`), "utf8"));
}

describe.each(["tiny-gemma2", "tiny-gemma3"])("%s with ring-buffer sliding-window layers", (shape) => {
  const ref = reference(shape);
  const path = join(outDir, `ring-${ref.model}`);
  beforeAll(() => writeSyntheticModel(ref.shape, path));

  test("rings of window + batch rows; greedy output equals llama.cpp's", () => {
    const model = openLoadedModel(path, { contextLength: 256, batchSize: 4 });
    try {
      const cache = model.model.cache;
      const windows = model.config.layers.map((l) => l.window);
      expect(windows.some((w) => w === 8)).toBe(true);
      windows.forEach((w, il) => expect(cache.rows[il]).toBe(w > 0 ? 12 : 256));
      expect(cache.bytes).toBe(model.model.memory.kvCacheBytes);
      for (const r of ref.results) {
        model.session.reset();
        const generated: number[] = [];
        for (const piece of model.session.generate(r.prompt_ids, { temperature: 0, maxTokens: r.generated_ids.length, stopAtEog: false })) generated.push(piece.token);
        const firstDifference = r.generated_ids.findIndex((t: number, i: number) => generated[i] !== t);
        if (firstDifference >= 0) expect(r.top2_margins[firstDifference]).toBeLessThan(0.01);
        else expect(generated).toEqual(r.generated_ids);
      }
    } finally {
      model.close();
    }
  });

  test("rolling back past the ring recomputes; a short rollback reuses; both give a fresh context's logits", () => {
    const model = openLoadedModel(path, { contextLength: 256, batchSize: 4 });
    const fresh = openLoadedModel(path, { contextLength: 256, batchSize: 4 });
    try {
      const a = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 500));
      model.session.prefill(a);
      // Shares 10 tokens with `a`: the rings (12 rows) hold positions 28..39 only, so nothing can be kept.
      const b = [...a.slice(0, 10), 7, 8, 9];
      const far = model.session.prefill(b);
      expect(far.reused).toBe(0);
      expect(Array.from(new Uint32Array(far.logits.slice().buffer))).toEqual(Array.from(new Uint32Array(fresh.forward(b).slice().buffer)));
      // Shares all but the last two tokens: the window before them is still in the rings.
      const c = [...b.slice(0, 11), 100, 101];
      const near = model.session.prefill(c);
      expect(near.reused).toBe(11);
      expect(Array.from(new Uint32Array(near.logits.slice().buffer))).toEqual(Array.from(new Uint32Array(fresh.forward(c).slice().buffer)));
    } finally {
      model.close();
      fresh.close();
    }
  });

  test("a q8_0 cache in rings gives the same tokens as without rings", () => {
    const ids = reference(shape).results[1].prompt_ids;
    const run = (batchSize: number) => {
      const model = openLoadedModel(path, { contextLength: 128, batchSize, kvType: "q8_0" });
      try {
        const out: number[] = [];
        for (const piece of model.session.generate(ids, { temperature: 0, maxTokens: 40, stopAtEog: false })) out.push(piece.token);
        return { out, rows: model.model.cache.rows };
      } finally {
        model.close();
      }
    };
    const ring = run(4);
    const full = run(128);
    expect(ring.rows.some((r) => r === 12)).toBe(true);
    expect(full.rows.every((r) => r === 128)).toBe(true);
    expect(ring.out).toEqual(full.out);
  });

  test("a conversation longer than the context keeps going (context shifts with rings)", () => {
    const model = openLoadedModel(path, { contextLength: 32, batchSize: 4 });
    try {
      let count = 0;
      const run = model.session.generate(reference(shape).results[0].prompt_ids, { temperature: 0, maxTokens: 80, stopAtEog: false });
      for (let r = run.next(); ; r = run.next()) {
        if (r.done) {
          expect(r.value.contextShifts).toBeGreaterThan(0);
          break;
        }
        count++;
      }
      expect(count).toBe(80);
    } finally {
      model.close();
    }
  });
});
