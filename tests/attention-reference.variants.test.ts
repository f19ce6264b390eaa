/**
 * zinc's attention gives the same bits as llama.cpp's flash attention (ggml_flash_attn_ext on an f16 cache,
 * causal mask), on its three paths: one query at a time for batches under 64 queries, the tiled matrix
 * products from 64 up, and one query over a KV view of 512+ cells split into a chunk per thread (2 threads,
 * as the fixture was made with). Inputs are regenerated from the fixture's seed in exactly representable values;
 * the fixture holds ggml's output hash and last rows (scripts/reference/ggml-flash-attn.c).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadKernels } from "../src/native/index.ts";

type Case = {
  tokens: number;
  kv_len: number;
  cells: number;
  heads: number;
  kv_heads: number;
  head_dim: number;
  window: number;
  scale: number;
  softcap: number;
  q_amp: number;
  out_sha256: string;
  last_row_f32_hex: string;
};
const fixture = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "attention", "flash-attn.json"), "utf8")) as { seed: string; cases: Case[] };
const kernels = loadKernels({ threads: 2 });

// The C program's xorshift64 and its two exact draws, in the same order.
let state = BigInt(fixture.seed);
const mask64 = (1n << 64n) - 1n;
function next(): bigint {
  state ^= (state << 13n) & mask64;
  state ^= state >> 7n;
  state ^= (state << 17n) & mask64;
  return state;
}
const drawF32 = (amp: number) => Math.fround((amp * (Number(next() >> 40n) - 2 ** 23)) / 2 ** 23);
const drawF16 = () => (Number(next() >> 53n) - 1024) / 1024;

const inputs = fixture.cases.map((c) => {
  const q = new Float32Array(c.tokens * c.heads * c.head_dim);
  for (let i = 0; i < q.length; i++) q[i] = drawF32(c.q_amp);
  const half = (n: number) => {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = drawF16();
    const bits = new Uint16Array(n);
    kernels.f32ToF16(values, bits, n);
    return new Uint8Array(bits.buffer);
  };
  const cacheValues = c.cells * c.kv_heads * c.head_dim;
  return { q, k: half(cacheValues), v: half(cacheValues) };
});

describe(`attention matches llama.cpp's flash attention bit for bit (kernels: ${kernels.variant})`, () => {
  const path = (c: Case) => (c.tokens >= 64 ? "tiled" : c.tokens === 1 && c.cells >= 512 ? `split over ${c.cells} cells` : "one at a time");
  test.each(fixture.cases.map((c, i) => [`${c.tokens} queries (${path(c)}), ${c.kv_len} keys, ${c.heads}/${c.kv_heads} heads × ${c.head_dim}${c.window ? `, window ${c.window}` : ""}${c.softcap ? `, soft-cap ${c.softcap}` : ""}${c.q_amp > 8 ? ", wide scores" : ""}`, i] as const))("%s", (_, i) => {
    const c = fixture.cases[i];
    const { q, k, v } = inputs[i];
    const positions = Int32Array.from({ length: c.tokens }, (_, t) => c.kv_len - c.tokens + t);
    const out = new Float32Array(c.tokens * c.heads * c.head_dim);
    kernels.attention(
      { tokens: c.tokens, headCount: c.heads, kvHeadCount: c.kv_heads, headDim: c.head_dim, kvLength: c.kv_len, window: c.window, scale: c.scale, softcap: c.softcap, kvType: "f16", kvCells: c.cells },
      q,
      positions,
      k,
      v,
      out,
    );
    // A readable difference first (the last query of each head), then every bit through the hash.
    const lastRow = Array.from(out.subarray((c.tokens - 1) * c.heads * c.head_dim));
    const want = Array.from(new Float32Array(Uint8Array.from(Buffer.from(c.last_row_f32_hex, "hex")).buffer));
    expect(lastRow).toEqual(want);
    const hash = new Bun.CryptoHasher("sha256").update(new Uint8Array(out.buffer)).digest("hex");
    expect(hash).toBe(c.out_sha256);
  });
});

test("a sliding-window layer kept as a ring gives the bits of the full cache (tiled and one-at-a-time)", () => {
  for (const tokens of [64, 96, 20]) {
    const [heads, kvHeads, headDim, window, kvLength] = [4, 2, 64, 40, 230];
    const rowValues = kvHeads * headDim;
    const q = Float32Array.from({ length: tokens * heads * headDim }, () => drawF32(2));
    const full = { k: new Uint16Array(kvLength * rowValues), v: new Uint16Array(kvLength * rowValues) };
    const values = Float32Array.from({ length: kvLength * rowValues * 2 }, () => drawF16());
    kernels.f32ToF16(values.subarray(0, kvLength * rowValues), full.k, kvLength * rowValues);
    kernels.f32ToF16(values.subarray(kvLength * rowValues), full.v, kvLength * rowValues);
    // The ring holds window − 1 + tokens rows; position p lives in row p % ringRows.
    const ringRows = window - 1 + tokens;
    const ring = { k: new Uint16Array(ringRows * rowValues), v: new Uint16Array(ringRows * rowValues) };
    for (let p = kvLength - ringRows; p < kvLength; p++) {
      ring.k.set(full.k.subarray(p * rowValues, (p + 1) * rowValues), (p % ringRows) * rowValues);
      ring.v.set(full.v.subarray(p * rowValues, (p + 1) * rowValues), (p % ringRows) * rowValues);
    }
    const positions = Int32Array.from({ length: tokens }, (_, t) => kvLength - tokens + t);
    const params = { tokens, headCount: heads, kvHeadCount: kvHeads, headDim, kvLength, window, scale: 0.125, softcap: 0, kvType: "f16" as const };
    const outFull = new Float32Array(tokens * heads * headDim);
    const outRing = new Float32Array(tokens * heads * headDim);
    kernels.attention(params, q, positions, new Uint8Array(full.k.buffer), new Uint8Array(full.v.buffer), outFull);
    kernels.attention({ ...params, ringRows }, q, positions, new Uint8Array(ring.k.buffer), new Uint8Array(ring.v.buffer), outRing);
    expect(Array.from(outRing)).toEqual(Array.from(outFull));
  }
});
