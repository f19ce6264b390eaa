/**
 * The results registry and zinc report: bench and perplexity append records with every listed field; report
 * merges them into one row per model/quant/variant/threads, prints the Markdown table and writes both charts
 * as SVG and PNG.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { reportRows } from "../src/report/report.ts";
import type { ResultRecord } from "../src/report/results.ts";
import { runCli, scratchDir, sharedDir } from "./helpers.ts";

const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const dir = scratchDir("report");

describe("results registry", () => {
  test("bench and perplexity append one record each, with model, quant, bits per weight, machine and figures", () => {
    const results = join(dir, "runs.jsonl");
    expect(runCli(["bench", "-m", stories, "-p", "16", "-n", "8", "-r", "1", "--results", results]).exitCode).toBe(0);
    const text = join(dir, "text.txt");
    writeFileSync(text, "Once upon a time, there was a little girl named Lily. She loved to play outside. ".repeat(20));
    expect(runCli(["perplexity", "-m", stories, "-f", text, "--ctx", "64", "--results", results]).exitCode).toBe(0);
    expect(runCli(["bench", "-m", stories, "-p", "8", "-n", "0", "-r", "1", "--results", results, "--no-record"]).exitCode).toBe(0);
    const records = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(records.map((r: ResultRecord) => r.kind)).toEqual(["bench", "perplexity"]);
    for (const r of records) {
      for (const key of ["model", "file", "quant", "cpu", "variant", "date", "zinc_version"]) expect(typeof r[key]).toBe("string");
      for (const key of ["bits_per_weight", "file_size_mb", "threads"]) expect(r[key]).toBeGreaterThan(0);
      expect(r.file).toBe("stories260K.gguf");
      expect(r.quant).toBe("F32");
      expect(r.bits_per_weight).toBeCloseTo(32, 0);
    }
    expect(records[0].pp_tok_s).toBeGreaterThan(0);
    expect(records[0].tg_tok_s).toBeGreaterThan(0);
    expect(records[0].ttft_ms).toBeGreaterThan(0);
    expect(records[0].peak_rss_mb).toBeGreaterThan(0);
    expect(records[1].ppl).toBeGreaterThan(1);
    expect(records[1].ppl_ctx).toBe(64);
  });
});

const record = (model: string, quant: string, bpw: number, size: number, fields: Partial<ResultRecord>, date: string): ResultRecord => ({
  kind: fields.ppl !== undefined ? "perplexity" : "bench",
  model,
  file: `${model}-${quant}.gguf`,
  quant,
  bits_per_weight: bpw,
  file_size_mb: size,
  cpu: "test cpu",
  variant: "avx2",
  threads: 2,
  date,
  zinc_version: "0.1.0",
  ...fields,
});

describe("zinc report", () => {
  const records = [
    record("SmolLM2", "Q8_0", 8.5, 138, { tg_tok_s: 100, pp_tok_s: 900 }, "2026-01-01T00:00:00Z"),
    record("SmolLM2", "Q8_0", 8.5, 138, { tg_tok_s: 110, pp_tok_s: 950 }, "2026-01-02T00:00:00Z"),
    record("SmolLM2", "Q8_0", 8.5, 138, { ppl: 20.5, ppl_ctx: 256 }, "2026-01-02T00:00:00Z"),
    record("SmolLM2", "Q4_K_M", 5.1, 98, { ppl: 21.9, ppl_ctx: 256 }, "2026-01-02T00:00:00Z"),
    record("Qwen", "Q4_K_M", 5.0, 1100, { tg_tok_s: 20, pp_tok_s: 60, ppl: 9.1, ppl_ctx: 256 }, "2026-01-03T00:00:00Z"),
  ];

  test("merges the latest bench and perplexity per model, quant, variant and threads", () => {
    const rows = reportRows(records);
    expect(rows.map((r) => `${r.model} ${r.quant}`)).toEqual(["Qwen Q4_K_M", "SmolLM2 Q8_0", "SmolLM2 Q4_K_M"]);
    const q8 = rows[1];
    expect([q8.tg_tok_s, q8.pp_tok_s, q8.ppl]).toEqual([110, 950, 20.5]);
    expect(rows[2].tg_tok_s).toBeNull();
  });

  test("prints the table and writes both charts as SVG and PNG", () => {
    const results = join(dir, "fake.jsonl");
    writeFileSync(results, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const out = join(dir, "charts");
    const run = runCli(["report", "--results", results, "--out", out]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("| model | quant | bits/weight |");
    expect(run.stdout).toContain("| SmolLM2 | Q8_0 | 8.50 | 138.0 | avx2 | 2 | 950.0 | 110.0 |");
    for (const name of ["speed", "perplexity"]) {
      const svg = readFileSync(join(out, `${name}.svg`), "utf8");
      expect(svg.startsWith("<svg")).toBe(true);
      const png = readFileSync(join(out, `${name}.png`));
      expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    }
    // One line per model in the perplexity chart: both model names appear as series.
    const ppl = readFileSync(join(out, "perplexity.svg"), "utf8");
    expect(ppl).toContain("SmolLM2");
    expect(ppl).toContain("Qwen");
  });

  test("a missing or malformed results file is one clear line", () => {
    const missing = runCli(["report", "--results", join(dir, "none.jsonl"), "--out", join(dir, "x")]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/no results file at .*none\.jsonl/);
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, "{not json}\n");
    const malformed = runCli(["report", "--results", bad, "--out", join(dir, "y")]);
    expect(malformed.exitCode).toBe(1);
    expect(malformed.stderr).toMatch(/line 1 is not a JSON record/);
    expect(existsSync(join(dir, "y", "speed.svg"))).toBe(false);
  });
});
