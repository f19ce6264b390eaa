#!/usr/bin/env bun
/**
 * Runs llama.cpp's llama-quantize on stories260K and two synthetic models for every `zinc quantize` target and
 * records, per output tensor, the type llama-quantize chose and a hash of its bytes. tests/quantize.test.ts
 * requires zinc quantize to choose the same types and write the same bytes.
 *
 *   bun scripts/reference/llama-quantize-mixes.ts PATH/llama-quantize > tests/fixtures/quantize/llama-quantize-mixes.json
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../../src/gguf/reader.ts";
import { quantizeTargets } from "../../src/gguf/quantize.ts";
import { writeSyntheticModel } from "../synthetic-model.ts";

const llamaQuantize = process.argv[2];
if (!llamaQuantize) throw new Error("usage: bun scripts/reference/llama-quantize-mixes.ts PATH/llama-quantize");
const dir = mkdtempSync(join(tmpdir(), "zinc-mixes-"));
const inputs: Record<string, string> = {
  stories260K: join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "models", "stories260K.gguf"),
  "mix-llama": join(dir, "mix-llama.gguf"),
  "mix-qwen2": join(dir, "mix-qwen2.gguf"),
};
writeSyntheticModel("mix-llama", inputs["mix-llama"], "F32");
writeSyntheticModel("mix-qwen2", inputs["mix-qwen2"], "F32");

/** First 16 hex digits of the tensor bytes' sha256. */
export function tensorHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}

const result: Record<string, Record<string, Record<string, [string, string]>>> = {};
for (const [model, input] of Object.entries(inputs)) {
  result[model] = {};
  for (const target of Object.keys(quantizeTargets)) {
    const out = join(dir, `${model}-${target}.gguf`);
    const run = Bun.spawnSync([llamaQuantize, input, out, target, "2"], { stdout: "pipe", stderr: "pipe" });
    if (run.exitCode !== 0) throw new Error(`llama-quantize ${model} ${target}: ${run.stderr.toString().slice(-500)}`);
    const file = openGguf(out);
    result[model][target] = Object.fromEntries(
      file.tensors.map((t) => [t.name, [t.type.name, tensorHash(file.bytes.subarray(t.offset, t.offset + t.byteSize))]]),
    );
    file.close();
    rmSync(out);
  }
}
rmSync(dir, { recursive: true });
console.log(JSON.stringify(result));
