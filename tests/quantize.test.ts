/** zinc quantize: every supported target loads, keeps the metadata, stays within ggml-like error bounds, runs. */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";
import { loadKernels, nativeAddress } from "../src/native/index.ts";
import { normalizedRmse, runCli, sharedDir } from "./helpers.ts";

const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const dir = mkdtempSync(join(tmpdir(), "zinc-quantize-"));
const kernels = loadKernels();

// Normalized RMS error of the matrices after the round trip (ggml's test-quantize-fns uses similar bounds).
const bounds: Record<string, number> = { F16: 0.001, BF16: 0.01, Q8_0: 0.01, Q5_0: 0.06, Q4_1: 0.1, Q4_0: 0.12 };

function values(file: ReturnType<typeof openGguf>, name: string): Float32Array {
  const t = file.tensorsByName.get(name)!;
  const out = new Float32Array(t.elementCount);
  kernels.dequantizeRow(t.type, nativeAddress(file.address + t.offset), t.byteSize, out);
  return out;
}

describe.each(Object.keys(bounds))("zinc quantize to %s", (type) => {
  const output = join(dir, `stories-${type}.gguf`);

  test("writes a loadable model with the same metadata and bounded error", () => {
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
      for (const t of a.tensors) {
        const q = b.tensorsByName.get(t.name)!;
        expect(q.shape).toEqual(t.shape);
        if (t.shape.length === 1) {
          expect(q.type.name).toBe("F32");
          continue;
        }
        // 4/5-bit targets keep the embedding and the output matrix at 8 bits; rows that do not divide into the
        // target's 32-value blocks (stories260K's FFN width is 172) fall back to F16.
        const lowBits = ["Q4_0", "Q4_1", "Q5_0"].includes(type);
        const blocked = !["F16", "BF16"].includes(type);
        const expected = lowBits && (t.name === "token_embd.weight" || t.name === "output.weight") ? "Q8_0" : blocked && t.shape[0] % 32 !== 0 ? "F16" : type;
        expect(q.type.name).toBe(expected);
        expect(normalizedRmse(values(a, t.name), values(b, t.name))).toBeLessThan(bounds[expected]);
      }
    } finally {
      a.close();
      b.close();
    }
    const run = runCli(["run", "-m", output, "-p", "Once upon a time", "-n", "8", "--json"]);
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).generated_tokens).toHaveLength(8);
  });
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
