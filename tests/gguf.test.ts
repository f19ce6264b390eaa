import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZincError } from "../src/errors.ts";
import { GgufError, openGguf, parseGguf } from "../src/gguf/reader.ts";
import { tensorType } from "../src/gguf/types.ts";
import { encodeGguf } from "../src/gguf/writer.ts";
import { runCli, seededRandom, sharedDir } from "./helpers.ts";

const storiesPath = join(sharedDir, "fixtures", "models", "stories260K.gguf");

describe("GGUF reader and writer", () => {
  test("every metadata value type, nested arrays and tensors survive a round trip", () => {
    const f32 = tensorType("F32");
    const q8 = tensorType("Q8_0");
    const bytes = encodeGguf(
      {
        "general.architecture": "llama",
        u8: { type: "u8", value: 200 },
        i8: { type: "i8", value: -100 },
        u16: { type: "u16", value: 60000 },
        i16: { type: "i16", value: -30000 },
        u32: { type: "u32", value: 4000000000 },
        i32: { type: "i32", value: -2000000000 },
        f32: { type: "f32", value: 1.5 },
        f64: { type: "f64", value: Math.PI },
        u64: { type: "u64", value: 2n ** 60n },
        i64: { type: "i64", value: -(2n ** 60n) },
        bool: true,
        text: "héllo ✓",
        // Gemma's vocabulary has tokens that are byte-order marks; a default TextDecoder drops a leading one.
        strings: ["a", "", "ü", "\uFEFF", "\uFEFF\uFEFFx"],
        nested: { type: "array", elementType: "array", value: [{ type: "array", elementType: "u8", value: [1, 2] }, { type: "array", elementType: "string", value: ["x"] }] },
      },
      [
        { name: "a", type: f32, shape: [3, 2], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) },
        { name: "b", type: q8, shape: [32], data: new Uint8Array(34).fill(7) },
      ],
      64,
    );
    const g = parseGguf(bytes, "memory");
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(64);
    const m = g.metadata;
    expect([m.get("u8"), m.get("i8"), m.get("u16"), m.get("i16"), m.get("u32"), m.get("i32")]).toEqual([200, -100, 60000, -30000, 4000000000, -2000000000]);
    expect(m.get("f32")).toBe(1.5);
    expect(m.get("f64")).toBe(Math.PI);
    expect(m.get("u64")).toBe(2n ** 60n);
    expect(m.get("i64")).toBe(-(2n ** 60n));
    expect(m.get("bool")).toBe(true);
    expect(m.get("text")).toBe("héllo ✓");
    expect(m.get("strings")).toEqual(["a", "", "ü", "\uFEFF", "\uFEFF\uFEFFx"]);
    expect(m.get("nested")).toEqual([[1, 2], ["x"]]);
    const a = g.tensorsByName.get("a")!;
    expect(a.shape).toEqual([3, 2]);
    expect(a.offset % 64).toBe(0);
    expect(Array.from(new Float32Array(bytes.slice(a.offset, a.offset + a.byteSize).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(g.tensorsByName.get("b")!.byteSize).toBe(34);
  });

  test("opening maps the file instead of reading it, and is fast", () => {
    const t0 = performance.now();
    const g = openGguf(storiesPath);
    const ms = performance.now() - t0;
    expect(g.address).toBeGreaterThan(0);
    expect(g.bytes.byteLength).toBe(1185376);
    expect(ms).toBeLessThan(1000);
    g.close();
  });

  test("a file longer than 4 GiB (the longest typed array) opens; its tensors past 4 GiB are readable", () => {
    // A sparse file: a header, tensor "a" at the start of the data and tensor "b" 4.5 GiB further on.
    const far = 4.5 * 2 ** 30;
    const header: number[] = [];
    const u32 = (v: number) => header.push(...new Uint8Array(new Uint32Array([v]).buffer));
    const u64 = (v: number) => header.push(...new Uint8Array(new BigUint64Array([BigInt(v)]).buffer));
    const str = (text: string) => (u64(text.length), header.push(...new TextEncoder().encode(text)));
    u32(0x46554747), u32(3), u64(2), u64(1);
    str("general.architecture"), u32(8), str("llama");
    for (const [name, offset] of [["a", 0], ["b", far]] as const) str(name), u32(1), u64(8), u32(0), u64(offset);
    const dataOffset = Math.ceil(header.length / 32) * 32;
    const a = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = new Float32Array([8, 7, 6, 5, 4, 3, 2, 1]);
    const path = join(tmpdir(), `zinc-large-${process.pid}.gguf`);
    const fd = openSync(path, "w");
    try {
      writeSync(fd, new Uint8Array(header), 0, header.length, 0);
      writeSync(fd, new Uint8Array(a.buffer), 0, 32, dataOffset);
      writeSync(fd, new Uint8Array(b.buffer), 0, 32, dataOffset + far);
      closeSync(fd);
      const g = openGguf(path);
      expect(g.fileSize).toBe(dataOffset + far + 32);
      expect(g.bytes.byteLength).toBe(2 ** 32);
      expect(Array.from(new Float32Array(g.tensorBytes(g.tensorsByName.get("a")!).slice().buffer))).toEqual(Array.from(a));
      expect(Array.from(new Float32Array(g.tensorBytes(g.tensorsByName.get("b")!).slice().buffer))).toEqual(Array.from(b));
      g.close();
    } finally {
      rmSync(path, { force: true });
    }
  });

  test("zinc inspect --json reports stories260K's shape", () => {
    const out = runCli(["inspect", storiesPath, "--json"]);
    expect(out.exitCode).toBe(0);
    const s = JSON.parse(out.stdout);
    expect([s.architecture, s.layers, s.embedding, s.heads, s.kv_heads, s.vocab_size]).toEqual(["llama", 5, 64, 8, 4, 512]);
    expect(s.memory.kv_cache_f16_bytes).toBe(5 * 4096 * 4 * 16 * 2);
  });

  test("wrong magic, big-endian, truncation and bad versions are one clear error each", () => {
    const good = readFileSync(storiesPath);
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode("not a gguf at all"), /not a GGUF file/],
      [Uint8Array.from([0x47, 0x47, 0x55, 0x46, 0, 0, 0, 3]), /big-endian/],
      [good.subarray(0, 3), /shorter than a GGUF header/],
      [good.subarray(0, 20), /truncated|runs past the end|needs/],
      [good.subarray(0, good.length - 1000), /tensor .* run past the end/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => parseGguf(bytes, "x.gguf")).toThrow(message);
    }
    const v9 = Uint8Array.from(good.subarray(0, 64));
    v9[4] = 9;
    expect(() => parseGguf(v9, "x.gguf")).toThrow(/unknown GGUF version 9/);
  });

  test("fuzz: 3000 mutated or truncated files either load or fail with a GgufError", () => {
    const rand = seededRandom(2024);
    const original = new Uint8Array(readFileSync(storiesPath));
    // The header region is where structure lives; mutate mostly there, sometimes anywhere.
    const headerEnd = parseGguf(original, "stories").dataOffset;
    let loaded = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      let bytes = original.slice();
      const mode = i % 4;
      if (mode === 0) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      const flips = 1 + Math.floor(rand() * 8);
      for (let f = 0; f < flips && bytes.length > 0; f++) {
        const at = mode === 3 ? Math.floor(rand() * bytes.length) : Math.floor(rand() * Math.min(headerEnd, bytes.length));
        bytes[at] = mode === 2 ? [0, 0xff, 0x7f, 0x80][Math.floor(rand() * 4)] : Math.floor(rand() * 256);
      }
      try {
        parseGguf(bytes, "fuzz.gguf");
        loaded++;
      } catch (err) {
        if (!(err instanceof GgufError)) throw new Error(`case ${i}: unexpected ${String(err)}`);
        expect(err).toBeInstanceOf(ZincError);
        expect(err.message).toMatch(/^malformed GGUF file fuzz\.gguf: .+ at byte \d+: /);
        rejected++;
      }
    }
    expect(loaded + rejected).toBe(3000);
    expect(rejected).toBeGreaterThan(500);
  });
});
