/**
 * zinc quantize: for every target, the same tensor types and the same tensor bytes as llama.cpp's
 * llama-quantize on the same input (fixture: tests/fixtures/quantize/llama-quantize-mixes.json, from
 * scripts/reference/llama-quantize-mixes.ts), the metadata kept, the output runs, failures leave nothing behind.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeSyntheticModel } from "../scripts/synthetic-model.ts";
import { quantizeModel, quantizeTargets } from "../src/gguf/quantize.ts";
import { openGguf } from "../src/gguf/reader.ts";
import { loadKernels } from "../src/native/index.ts";
import { repoRoot, runCli, scratchDir, sharedDir } from "./helpers.ts";

const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const dir = scratchDir("quantize");
const synthetic = join(repoRoot, ".cache", "synthetic");
mkdirSync(synthetic, { recursive: true });
const inputs: Record<string, string> = { stories260K: stories, "mix-llama": join(synthetic, "mix-llama-F32.gguf"), "mix-qwen2": join(synthetic, "mix-qwen2-F32.gguf") };
for (const shape of ["mix-llama", "mix-qwen2"]) if (!existsSync(inputs[shape])) writeSyntheticModel(shape, inputs[shape], "F32");

const fixture = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "quantize", "llama-quantize-mixes.json"), "utf8")) as Record<string, Record<string, Record<string, [string, string]>>>;
const kernels = loadKernels();

describe.each(Object.keys(inputs))("zinc quantize %s matches llama-quantize", (model) => {
  test.each(Object.keys(quantizeTargets))("%s: same tensor types, same bytes", (target) => {
    const output = join(dir, `${model}-${target}.gguf`);
    const source = openGguf(inputs[model]);
    try {
      quantizeModel(source, output, target, kernels);
    } finally {
      source.close();
    }
    const file = openGguf(output);
    const got: Record<string, [string, string]> = {};
    for (const t of file.tensors) got[t.name] = [t.type.name, createHash("sha256").update(file.bytes.subarray(t.offset, t.offset + t.byteSize)).digest("hex").slice(0, 16)];
    file.close();
    expect(got).toEqual(fixture[model][target]);
  });
});

describe("zinc quantize through the CLI", () => {
  test.each(["Q4_K_M", "Q8_0"])("%s keeps the metadata and the output runs", (type) => {
    const output = join(dir, `cli-stories-${type}.gguf`);
    const out = runCli(["quantize", stories, output, type]);
    expect(out.exitCode).toBe(0);
    const a = openGguf(stories);
    const b = openGguf(output);
    try {
      for (const [key, value] of a.metadata) {
        if (key === "general.file_type") continue;
        expect(b.metadata.get(key)).toEqual(value);
        expect(b.metadataTypes.get(key)).toEqual(a.metadataTypes.get(key)!);
      }
      expect(b.metadata.get("general.file_type")).toBe(quantizeTargets[type].fileType);
    } finally {
      a.close();
      b.close();
    }
    const run = runCli(["run", "-m", output, "-p", "Once upon a time", "-n", "8", "--json"]);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).generated_tokens).toHaveLength(8);
  });

  test("a failed quantize leaves nothing behind and says why", () => {
    const target = join(dir, "missing-dir", "out.gguf");
    const out = runCli(["quantize", stories, target, "Q8_0"]);
    expect(out.exitCode).not.toBe(0);
    expect(existsSync(target)).toBe(false);
    const unknown = runCli(["quantize", stories, join(dir, "x.gguf"), "Q3_Z"]);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('cannot quantize to "Q3_Z"');
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
  });
});
