/** Dequantization of every type gives exactly the f32 values of gguf-py (llama.cpp's reference), see fixture. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tensorType } from "../src/gguf/types.ts";
import { loadKernels } from "../src/native/index.ts";

const fixture = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "dequant", "gguf-py.json"), "utf8"));
const kernels = loadKernels();

test.each(fixture.cases.map((c: { type: string; source: string }, i: number) => [c.type, c.source, i]) as [string, string, number][])(
  "%s (%s) dequantizes bit-exactly",
  (typeName, _source, index) => {
    const c = fixture.cases[index];
    const type = tensorType(typeName);
    const bytes = Uint8Array.from(Buffer.from(c.bytes_hex, "hex"));
    const expected = new Uint32Array(Uint8Array.from(Buffer.from(c.expected_f32_hex, "hex")).buffer);
    const out = new Float32Array(c.values);
    kernels.dequantizeRow(type, bytes, bytes.byteLength, out);
    const got = new Uint32Array(out.buffer);
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
  },
);
